package core_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// meteredLog counts the entries appended to a log and their bytes.
type meteredLog struct {
	core.Log
	entries, bytes, largest atomic.Int64
}

func (l *meteredLog) Append(ctx context.Context, op []byte) (string, error) {
	l.entries.Add(1)
	l.bytes.Add(int64(len(op)))
	for {
		cur := l.largest.Load()
		if int64(len(op)) <= cur || l.largest.CompareAndSwap(cur, int64(len(op))) {
			break
		}
	}
	return l.Log.Append(ctx, op)
}

// TestClusterIdleLogTrafficDoesNotGrowWithConnections measures what an
// idle cluster of two nodes appends to the log while 1 000 connections
// made through node0 stay attached to node1, their transports writing
// heartbeats: no entry may carry per-connection data, so the bytes an
// idle cluster appends do not grow with its connections.
//
// A connection is safe from collection once node1's hold of it is in the
// log; until then only its connect entry's time keeps it, so conn_timeout
// must outlast the hold's way through the log on a loaded machine (with
// 1 s, make test under load lost one or two connections now and then).
func TestClusterIdleLogTrafficDoesNotGrowWithConnections(t *testing.T) {
	const conns = 1000
	// Beats every second (conn_timeout / 4) instead of the default
	// 3.75 s, so that the window sees several.
	cfg := core.Config{ConnTimeout: 4 * time.Second, GCInterval: 20 * time.Millisecond}
	log := &meteredLog{Log: core.NewMemoryLog()}
	nodes := newCluster(t, log, 2, cfg)
	ctx := t.Context()
	var mu sync.Mutex
	var sessions []*core.Session
	every(t, 50*time.Millisecond, func() { // the transports' heartbeats
		mu.Lock()
		for _, s := range sessions {
			s.Touch()
		}
		mu.Unlock()
	})
	ids := make([]string, 0, conns)
	for i := range conns {
		res, err := nodes[0].Connect(ctx, core.ConnectParams{Username: fmt.Sprint("u", i), Channels: []string{"idle"}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := nodes[1].Attach(res.ConnID, core.AttachOptions{Transport: "test"})
		if err != nil {
			t.Fatalf("conn %d: %v; known on node0 %v, node1 %v; collected %d %d", i, err, nodes[0].HasConn(res.ConnID), nodes[1].HasConn(res.ConnID),
				nodes[0].Stats().CollectedConns.Load(), nodes[1].Stats().CollectedConns.Load())
		}
		mu.Lock()
		sessions = append(sessions, s)
		mu.Unlock()
		ids = append(ids, res.ConnID)
	}
	// Past the attachments' own entries: every node applied every hold.
	waitUntil(t, 30*time.Second, "node1's holds applied everywhere", func() bool {
		for _, nd := range nodes {
			for _, id := range ids {
				if nd.Holder(id) != "node1" {
					return false
				}
			}
		}
		return true
	})

	// The measurement's window: two lease beats of each node.
	const window = 2 * time.Second
	e0, b0 := log.entries.Load(), log.bytes.Load()
	log.largest.Store(0)
	time.Sleep(window)
	entries, bytes := log.entries.Load()-e0, log.bytes.Load()-b0
	perSec := float64(entries) / window.Seconds()
	t.Logf("idle, %d attached connections: %.1f entries/s, %.0f bytes/s, largest entry %d bytes",
		conns, perSec, float64(bytes)/window.Seconds(), log.largest.Load())
	if got := log.largest.Load(); got > 1024 {
		t.Errorf("an idle cluster appended an entry of %d bytes: it carries per-connection data", got)
	}
	for i, nd := range nodes {
		if n := nd.Gauges().Conns; n != conns {
			t.Fatalf("node%d holds %d connections, want %d (collected while alive?); collected %d %d", i, n, conns,
				nodes[0].Stats().CollectedConns.Load(), nodes[1].Stats().CollectedConns.Load())
		}
	}
}
