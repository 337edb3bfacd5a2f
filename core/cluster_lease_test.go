package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// kindLog records the kind of every entry appended, with the connections
// it names, and can be cut off (every append fails as if the node lost
// its network).
type kindLog struct {
	core.Log
	mu    sync.Mutex
	kinds []string
	conns [][]string
	cut   bool
}

func (l *kindLog) Append(ctx context.Context, op []byte) (string, error) {
	var o struct {
		Kind  string `json:"k"`
		Marks []struct {
			ID string `json:"id"`
		} `json:"marks"`
	}
	_ = json.Unmarshal(op, &o)
	var ids []string
	for _, m := range o.Marks {
		ids = append(ids, m.ID)
	}
	l.mu.Lock()
	cut := l.cut
	if !cut {
		l.kinds = append(l.kinds, o.Kind)
		l.conns = append(l.conns, ids)
	}
	l.mu.Unlock()
	if cut {
		return "", fmt.Errorf("cut off: %w: %w", core.ErrUnavailable, core.ErrNotStored)
	}
	return l.Log.Append(ctx, op)
}

func (l *kindLog) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
}

// count returns how many entries of each kind that name the connection
// id were appended since the from'th.
func (l *kindLog) count(from int, id string) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for i, k := range l.kinds[from:] {
		if slices.Contains(l.conns[from+i], id) {
			out[k]++
		}
	}
	return out
}

func (l *kindLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.kinds)
}

// TestClusterNodeThatStopsLeasingLosesItsConnections: node1 holds a
// connection whose transport stays attached, without any heartbeat: it
// lives on node1's leases beyond conn_timeout. Then node1 is cut off from
// the log and stops without a word (as after SIGKILL): once its last
// lease is older than conn_timeout the connection is collected, with one
// parted, and the live watcher on node0 stays.
func TestClusterNodeThatStopsLeasingLosesItsConnections(t *testing.T) {
	cfg := core.Config{ConnTimeout: 300 * time.Millisecond, GCInterval: 20 * time.Millisecond}
	shared := core.NewMemoryLog()
	n0 := startNode(t, shared, cfg, "node0")
	cut := &kindLog{Log: shared}
	n1 := startNode(t, cut, cfg, "node1")
	ctx := t.Context()
	n0.ConfigureChannels(ctx, map[string]core.ChannelConfig{"p": channelCfg(func(c *core.ChannelConfig) { c.NotifyPresence = true })})
	watcher := listen(t, n0.Hub, "watcher", "p")
	ghost := connect(t, n1.Hub, "ghost", "p")
	ghost.attach(t, core.AttachOptions{Transport: "test"})
	watcher.waitFor(t, 1, testDeadline) // joined

	time.Sleep(3 * cfg.ConnTimeout) // no heartbeat at all: the leases keep both alive
	for _, id := range []string{ghost.ID, watcher.ID} {
		if !n0.HasConn(id) {
			t.Fatalf("%s was collected while its node leased", id)
		}
	}
	cut.setCut(true)
	n1.stop()
	<-n1.done

	got := watcher.waitFor(t, 1, testDeadline)
	if got[0].str("user") != "ghost" || got[0].message()["action"] != "parted" {
		t.Fatalf("watcher got %v", got)
	}
	waitUntil(t, testDeadline, "ghost gone", func() bool { return !n0.HasConn(ghost.ID) })
	if !n0.HasConn(watcher.ID) {
		t.Fatal("the live watcher was collected")
	}
	watcher.expectNothing(t)
}

// TestClusterLongPollHoldsBetweenPolls: a transport that attaches with a
// Linger (long-poll) and polls again and again on the same node appends
// one hold, and no release, whatever the number of polls; once it stops
// polling the node releases the connection after the linger, and the
// cluster collects it conn_timeout after the last poll ended.
func TestClusterLongPollHoldsBetweenPolls(t *testing.T) {
	cfg := core.Config{ConnTimeout: 600 * time.Millisecond, GCInterval: 20 * time.Millisecond}
	log := &kindLog{Log: core.NewMemoryLog()}
	nodes := newCluster(t, log, 2, cfg)
	ctx := t.Context()
	nodes[0].ConfigureChannels(ctx, map[string]core.ChannelConfig{"p": channelCfg(func(c *core.ChannelConfig) { c.NotifyPresence = true })})
	watcher := listen(t, nodes[0].Hub, "watcher", "p")
	poller := connect(t, nodes[0].Hub, "poller", "p")
	watcher.waitFor(t, 1, testDeadline) // joined

	from := log.len()
	const polls = 30
	for range polls {
		s, err := nodes[1].Attach(poller.ID, core.AttachOptions{Transport: "longpoll", Linger: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		s.Detach()
	}
	lastPoll := time.Now()
	kinds := log.count(from, poller.ID)
	if kinds["hold"] != 1 || kinds["release"] != 0 {
		t.Fatalf("%d polls appended %v, want one hold and no release", polls, kinds)
	}

	got := watcher.waitFor(t, 1, testDeadline)
	took := time.Since(lastPoll)
	if got[0].str("user") != "poller" || got[0].message()["action"] != "parted" {
		t.Fatalf("watcher got %v", got)
	}
	if took < cfg.ConnTimeout {
		t.Fatalf("collected %v after the last poll, before conn_timeout (%v)", took, cfg.ConnTimeout)
	}
	if kinds := log.count(from, poller.ID); kinds["release"] != 1 {
		t.Fatalf("entries since the polls began: %v, want one release", kinds)
	}
}

// TestClusterReleaseHandsOverThePosition: a transport on node0 takes
// frames and goes away; a transport attaching to node1 without a resume
// position starts after what node0 handed over (the release carries it).
func TestClusterReleaseHandsOverThePosition(t *testing.T) {
	log := core.NewMemoryLog()
	nodes := newCluster(t, log, 2, core.Config{})
	a := listen(t, nodes[0].Hub, "alice", "c")
	publish(nodes[0].Hub, msg("c", "one"), msg("c", "two"))
	if got := a.waitFor(t, 2, testDeadline); got[1].text() != "two" {
		t.Fatalf("alice got %v", got)
	}
	a.sess.Detach()
	publish(nodes[0].Hub, msg("c", "three"))
	// node1 learns from the release what node0 handed over: one frame
	// left for a transport that does not say where it is.
	waitUntil(t, testDeadline, "the release on node1", func() bool {
		return nodes[1].Sync(t.Context()) == nil && nodes[1].Gauges().QueuedFrames == 1
	})
	a.hub = nodes[1].Hub
	a.attach(t, core.AttachOptions{Transport: "test"})
	if got := a.take(t); len(got) != 1 || got[0].text() != "three" {
		t.Fatalf("alice got %v on node1, want [three]", got)
	}
}
