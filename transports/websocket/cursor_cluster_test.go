package websocket

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// newDataPlaneNodes starts n hubs in data-plane mode on one MemoryLog and
// one MemoryDataPlane, each behind its own /ws.
func newDataPlaneNodes(t *testing.T, n int) []*testEnv {
	t.Helper()
	return newDataPlaneNodesOn(t, n, core.NewMemoryDataPlane())
}

// newDataPlaneNodesOn is newDataPlaneNodes on dp.
func newDataPlaneNodesOn(t *testing.T, n int, dp *core.MemoryDataPlane) []*testEnv {
	t.Helper()
	log := core.NewMemoryLog()
	nodes := make([]*testEnv, n)
	for i := range nodes {
		e := newEnv(t, core.Config{Log: log, DataPlane: dp, NodeID: fmt.Sprint("node", i), ConnTimeout: 10 * time.Second}, Config{})
		eventually(t, 10*time.Second, "the hub not ready", func() bool { return e.hub.Ready(context.Background()) == nil })
		nodes[i] = e
	}
	return nodes
}

// TestCursorResumesOnAnotherNode: in data-plane mode the last object of a
// batch carries the resume cursor; a socket opened on another node with
// cursor= (beside last_seq or alone) gets exactly what came after it: the
// cursor reached that node's hub (the first node, still holding the
// connection, has released no position of its own).
func TestCursorResumesOnAnotherNode(t *testing.T) {
	for _, withSeq := range []bool{false, true} {
		t.Run(fmt.Sprint("with last_seq ", withSeq), func(t *testing.T) {
			nodes := newDataPlaneNodes(t, 2)
			a, b := nodes[0], nodes[1]
			id := a.connect("alice", "c")
			eventually(t, 10*time.Second, "node1 does not know the connection", func() bool { return b.hub.HasConn(id) })

			c := a.dial(id)
			for i := 1; i <= 3; i++ {
				a.publish("c", itoa(i))
			}
			var got []frame
			var cursor string
			for len(got) < 3 {
				list, err := readList(c, wait)
				if err != nil {
					t.Fatal(err)
				}
				if len(list) == 0 {
					continue // a heartbeat
				}
				got = append(got, list...)
				cursor = list[len(list)-1].Cursor
				if !strings.Contains(cursor, "-") {
					t.Fatalf("last object %+v carries no cursor with positions", list[len(list)-1])
				}
			}
			// The client moves to node 1 while its socket on node 0 still
			// looks open there (a network change): node 0 has released
			// nothing, only the cursor says where the client is.
			for i := 4; i <= 6; i++ {
				b.publish("c", itoa(i))
			}
			q := url.Values{"cursor": {cursor}}
			if withSeq {
				q.Set("last_seq", itoa(int(got[len(got)-1].Seq)))
			}
			c = b.dial(id, q.Encode())
			got = append(got, readObjects(t, c, 3, wait)...)
			var texts []string
			for _, f := range got {
				texts = append(texts, f.Message)
			}
			if want := []string{"1", "2", "3", "4", "5", "6"}; !reflect.DeepEqual(texts, want) {
				t.Fatalf("got %q, want %q each once (%+v)", texts, want, got)
			}
			if s := seqs(got); !reflect.DeepEqual(s, []uint64{1, 2, 3, 4, 5, 6}) {
				t.Errorf("seqs %v", s)
			}
		})
	}
}
