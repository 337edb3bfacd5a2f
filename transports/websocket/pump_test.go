package websocket

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/core"
)

// A batch that the pump could not send whole (the socket's send buffer
// filled up) is finished by the socket's writer: the client, once it reads
// again, gets every frame whole, in order, exactly once.
func TestBatchesTheSendBufferCouldNotTakeArriveWholeAndInOrder(t *testing.T) {
	e := newEnv(t, core.Config{QueueBytes: 16 << 20}, Config{}, smallSendBuffers(16<<10))
	id := e.connect("alice", "c")
	c := e.dial(id) // a receive buffer shrunk after the handshake would drop data
	c.SetReadLimit(-1)
	const n = 300
	pad := strings.Repeat("x", 4<<10)
	for i := 1; i <= n; i++ { // ~1.2 MiB while the client reads nothing
		e.publish("c", fmt.Sprintf("%d %s", i, pad))
	}
	got := readObjects(t, c, n, 2*wait)
	for i, f := range got {
		if want := fmt.Sprintf("%d %s", i+1, pad); f.Seq != uint64(i+1) || f.Message != want {
			t.Fatalf("object %d: seq %d, message %.20q…; want seq %d and message %d", i, f.Seq, f.Message, i+1, i+1)
		}
	}
}

// Publishers on several goroutines to one channel of many sockets: every
// socket gets every message once, with seqs 1, 2, 3… and nothing else.
func TestConcurrentPublishersReachEverySocketOnceInSeqOrder(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	const sockets, publishers, each = 40, 4, 50
	clients := make([]*gws.Conn, sockets)
	for i := range clients {
		clients[i] = e.dial(e.connect(fmt.Sprintf("u%d", i), "c"))
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e.publish("c", fmt.Sprintf("p%d-%d", p, i))
			}
		}()
	}
	wg.Wait()
	for i, r := range clients {
		got := readObjects(t, r, publishers*each, wait)
		seen := map[string]bool{}
		for k, f := range got {
			if f.Seq != uint64(k+1) || f.Type != "message" || seen[f.Message] {
				t.Fatalf("socket %d, object %d: %+v (want seq %d, a message not seen before)", i, k, f, k+1)
			}
			seen[f.Message] = true
		}
	}
}
