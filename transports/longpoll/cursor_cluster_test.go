package longpoll

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// newDataPlaneNodes starts n hubs in data-plane mode on one MemoryLog and
// one MemoryDataPlane, each behind its own /listen.
func newDataPlaneNodes(t *testing.T, n int, lc Config) []*env {
	t.Helper()
	return newDataPlaneNodesOn(t, n, lc, core.NewMemoryDataPlane())
}

// newDataPlaneNodesOn is newDataPlaneNodes on dp.
func newDataPlaneNodesOn(t *testing.T, n int, lc Config, dp *core.MemoryDataPlane) []*env {
	t.Helper()
	log := core.NewMemoryLog()
	nodes := make([]*env, n)
	for i := range nodes {
		e := newEnv(t, core.Config{Log: log, DataPlane: dp, NodeID: fmt.Sprint("node", i), ConnTimeout: 10 * time.Second}, lc)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = e.hub.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-done })
		waitFor(t, 10*time.Second, "the hub ready", func() bool { return e.hub.Ready(context.Background()) == nil })
		nodes[i] = e
	}
	return nodes
}

// TestCursorResumesOnAnotherNode: in data-plane mode the last object of an
// answer carries the resume cursor; a poll on another node with cursor=
// (beside last_seq or alone) gets exactly what came after it: the cursor
// reached that node's hub.
func TestCursorResumesOnAnotherNode(t *testing.T) {
	for _, withSeq := range []bool{false, true} {
		t.Run(fmt.Sprint("with last_seq ", withSeq), func(t *testing.T) {
			nodes := newDataPlaneNodes(t, 2, Config{Timeout: 2 * time.Second, Gather: NoGather})
			a, b := nodes[0], nodes[1]
			id := a.connect(t, "alice", "c")
			waitFor(t, 10*time.Second, "node1 knows the connection", func() bool { return b.hub.HasConn(id) })

			var sent []string
			for i := range 3 {
				sent = append(sent, a.publish("c", fmt.Sprint(i)))
			}
			var got []frame
			var cursor string
			for len(got) < 3 {
				q := url.Values{}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				fs := frames(t, a.poll(t, id, q))
				if len(fs) == 0 {
					continue
				}
				got = append(got, fs...)
				cursor = fs[len(fs)-1].Cursor
				if !strings.Contains(cursor, "-") {
					t.Fatalf("last object %+v carries no cursor with positions", fs[len(fs)-1])
				}
				for _, f := range fs[:len(fs)-1] {
					if f.Cursor != "" {
						t.Errorf("object %+v is not the last, yet carries a cursor", f)
					}
				}
			}
			for i := range 3 {
				sent = append(sent, b.publish("c", fmt.Sprint(3+i)))
			}
			q := url.Values{"cursor": {cursor}}
			if withSeq {
				q.Set("last_seq", fmt.Sprint(got[len(got)-1].Seq))
			}
			for len(got) < 6 {
				fs := frames(t, b.poll(t, id, q))
				got = append(got, fs...)
				if len(fs) > 0 {
					q = url.Values{"cursor": {fs[len(fs)-1].Cursor}}
				}
			}
			if u := uuids(got); !slices.Equal(u, sent) {
				t.Fatalf("got %v, want each of %v once (gap or repeat: %+v)", u, sent, got)
			}
			for i, f := range got {
				if f.Seq != uint64(i+1) {
					t.Errorf("object %d has seq %d", i, f.Seq)
				}
			}
		})
	}
}
