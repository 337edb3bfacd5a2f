package core_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// stallLog is a Log whose delivery to followers can be held back on an
// entry, and which records the holds and releases it stored.
type stallLog struct {
	core.Log
	mu      sync.Mutex
	stalled chan struct{} // closed by the release of a stall
	blocked chan struct{} // closed once a follower waits on the stall
	marks   []string      // "hold <conn id>", "release <conn id>", as stored
}

func (l *stallLog) Append(ctx context.Context, op []byte) (string, error) {
	id, err := l.Log.Append(ctx, op)
	var o struct {
		Kind  string `json:"k"`
		Marks []struct {
			ID string `json:"id"`
		} `json:"marks"`
	}
	if err == nil && json.Unmarshal(op, &o) == nil {
		l.mu.Lock()
		for _, m := range o.Marks {
			l.marks = append(l.marks, o.Kind+" "+m.ID)
		}
		l.mu.Unlock()
	}
	return id, err
}

func (l *stallLog) stored(mark string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.marks, mark)
}

// stall holds back the next entry delivered to the follower, and those
// after it, until the returned func is called; blocked is closed once the
// follower waits.
func (l *stallLog) stall() (blocked <-chan struct{}, release func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stalled, l.blocked = make(chan struct{}), make(chan struct{})
	ch := l.stalled
	return l.blocked, func() {
		l.mu.Lock()
		l.stalled = nil
		l.mu.Unlock()
		close(ch)
	}
}

func (l *stallLog) Follow(ctx context.Context, after string, fn func(core.Entry), onErr func(error)) error {
	return l.Log.Follow(ctx, after, func(e core.Entry) {
		l.mu.Lock()
		ch, blocked := l.stalled, l.blocked
		if ch != nil && blocked != nil {
			close(blocked)
			l.blocked = nil
		}
		l.mu.Unlock()
		if ch != nil {
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
		fn(e)
	}, onErr)
}

// loseNextMark makes the hold or release that do appends reach Redis but
// never the node: the node's follower is held back on an earlier entry
// while do runs and the mark is stored, then Redis restarts empty.
func loseNextMark(t *testing.T, srv *redistest.Server, log *stallLog, mark string, do func()) {
	t.Helper()
	blocked, release := log.stall()
	select {
	case <-blocked: // the follower holds an entry (a lease comes every leaseInterval)
	case <-time.After(testDeadline):
		release()
		t.Fatal("the follower got no entry to hold back")
	}
	do()
	waitUntil(t, testDeadline, mark+" stored", func() bool { return log.stored(mark) })
	srv.Restart()
	release()
}

// TestClusterRedoesTheMarksARedisRestartLost: a hold or a release the
// node appended just before Redis lost its data set (restarted empty)
// and that its follower had not read yet is never applied; the node must
// announce them again once it sees the reset. A lost release would leave
// the node the connection's holder (its leases would keep the connection
// alive for ever); a lost hold would let the cluster collect a connection
// whose transport is attached.
func TestClusterRedoesTheMarksARedisRestartLost(t *testing.T) {
	cfg := core.Config{ConnTimeout: 400 * time.Millisecond, GCInterval: 20 * time.Millisecond, ReplicateTimeout: time.Second}
	start := func(t *testing.T) (*redistest.Server, *stallLog, *node) {
		srv := redistest.Start(t)
		l, err := redisbroker.New(redisbroker.Config{URL: srv.URL(), MaxBackoff: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		log := &stallLog{Log: l}
		return srv, log, startNode(t, log, cfg, "node0")
	}
	t.Run("release", func(t *testing.T) {
		srv, log, nd := start(t)
		c := listen(t, nd.Hub, "leaving", "c")
		waitUntil(t, testDeadline, "the hold applied", func() bool {
			return log.stored("hold "+c.ID) && nd.Sync(t.Context()) == nil
		})
		loseNextMark(t, srv, log, "release "+c.ID, c.sess.Detach)
		waitUntil(t, testDeadline+3*cfg.ConnTimeout, "the connection collected", func() bool { return !nd.HasConn(c.ID) })
	})
	t.Run("hold", func(t *testing.T) {
		srv, log, nd := start(t)
		c := connect(t, nd.Hub, "staying", "c")
		loseNextMark(t, srv, log, "hold "+c.ID, func() { c.attach(t, core.AttachOptions{Transport: "test"}) })
		waitUntil(t, testDeadline, "ready after the restart", func() bool { return nd.Ready(t.Context()) == nil })
		// No heartbeat: only the node's leases keep the connection, as
		// its holder, alive; collections run again meanwhile.
		time.Sleep(4 * cfg.ConnTimeout)
		if !nd.HasConn(c.ID) || isDone(c.sess) {
			t.Fatalf("the attached connection was collected (session ended: %v)", isDone(c.sess))
		}
	})
}
