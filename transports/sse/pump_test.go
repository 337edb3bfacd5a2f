package sse_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/sse"
)

// An event that the handler's pump could not send whole (the socket's send
// buffer filled up while the client read nothing) is finished by the
// stream's writer: once the client reads again, every event arrives whole,
// in order, exactly once.
func TestEventsTheSendBufferCouldNotTakeArriveWholeAndInOrder(t *testing.T) {
	hub := newHub(t, core.Config{QueueBytes: 32 << 20, MaxMessageBytes: 1 << 20}, false)
	srv := httptest.NewUnstartedServer(sse.New(sse.Config{Hub: hub}))
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			_ = c.(*net.TCPConn).SetWriteBuffer(16 << 10)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	id := connect(t, hub, "alice", "c")
	c := dialNoRead(t, sseURL(srv, id))
	// The client's receive buffer stays as the kernel made it: shrunk
	// after the handshake, it drops what the window had allowed, and the
	// retransmissions back off for seconds.
	if status := c.readHeader(t); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	const n = 300
	pad := strings.Repeat("x", 8<<10)
	for i := 1; i <= n; i++ { // ~2.4 MiB while the client reads nothing
		publish(t, hub, "c", fmt.Sprintf("%d %s", i, pad))
	}

	_ = c.conn.SetReadDeadline(time.Now().Add(2 * waitFor))
	got := 0
	for got < n {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", got, n, err)
		}
		data, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "data: ")
		if !ok {
			continue // :ok, retry:, id:, blank lines, heartbeats
		}
		var frames []frame
		if err := json.Unmarshal([]byte(data), &frames); err != nil {
			t.Fatalf("after %d messages, an event whose data is not a JSON list (%v): %.80q", got, err, data)
		}
		for _, f := range frames {
			got++
			if want := strconv.Itoa(got) + " " + pad; f.Seq != uint64(got) || f.Message != want {
				t.Fatalf("message %d: seq %d, %.20q…; want seq %d", got, f.Seq, f.Message, got)
			}
		}
	}
}
