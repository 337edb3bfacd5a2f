package core_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// publishTexts publishes one message per text to channel on h.
func publishTexts(t *testing.T, h *core.Hub, channel string, texts ...string) {
	t.Helper()
	for _, text := range texts {
		if err := h.Publish(t.Context(), []core.Message{msg(channel, text)}); err != nil {
			t.Fatal(err)
		}
	}
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

// wantTexts fails unless frames are exactly the messages with texts.
func wantTexts(t *testing.T, who string, frames []frame, want []string) {
	t.Helper()
	got := texts(frames)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s got %v, want %v", who, got, want)
	}
}

func TestDataPlaneResumesOnAnotherNodeWithTheCursor(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		nodes := newDPCluster(t, b, 3, core.Config{})
		c := listen(t, nodes[0].Hub, "alice", "c")
		publishTexts(t, nodes[2].Hub, "c", numbered(0, 5)...)
		wantTexts(t, "alice on node0", c.waitFor(t, 5, testDeadline), numbered(0, 5))
		cursor := c.sess.Cursor()
		if cursor == "" {
			t.Fatal("no cursor on a data-plane session")
		}
		c.sess.Detach()
		publishTexts(t, nodes[2].Hub, "c", numbered(5, 10)...)

		c.hub = nodes[1].Hub
		cur, err := core.ParseCursor(cursor)
		if err != nil {
			t.Fatal(err)
		}
		c.attach(t, core.AttachOptions{Transport: "test", Resume: true, LastSeq: cur.Seq, Cursor: cursor})
		wantTexts(t, "alice on node1", c.waitFor(t, 5, testDeadline), numbered(5, 10))
		publishTexts(t, nodes[2].Hub, "c", "live")
		wantTexts(t, "alice on node1", c.waitFor(t, 1, testDeadline), []string{"live"})
		c.expectNothing(t)
		waitUntil(t, testDeadline, "node0 to free its copy", func() bool { return !nodes[0].DPHeld(c.ID) })
	})
}

func TestDataPlaneAttachWithoutResumeStartsAtTheRelease(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		nodes := newDPCluster(t, b, 2, core.Config{})
		c := listen(t, nodes[0].Hub, "alice", "c")
		publishTexts(t, nodes[1].Hub, "c", numbered(0, 3)...)
		c.waitFor(t, 3, testDeadline)
		c.sess.Detach()
		waitUntil(t, testDeadline, "node1 to apply the release", func() bool { return nodes[1].DPReleased(c.ID) })
		publishTexts(t, nodes[1].Hub, "c", numbered(3, 6)...)
		c.hub = nodes[1].Hub
		c.attach(t, core.AttachOptions{Transport: "test"})
		got := c.waitFor(t, 3, testDeadline)
		wantTexts(t, "alice on node1", got, numbered(3, 6))
		if got[0].seq() != 4 {
			t.Fatalf("seq %d after the release at 3", got[0].seq())
		}
		c.expectNothing(t)
	})
}

// killableLog refuses every append once killed, as the log of a node
// that died: its final release never lands.
type killableLog struct {
	core.Log
	dead atomic.Bool
}

func (l *killableLog) Append(ctx context.Context, op []byte) (string, error) {
	if l.dead.Load() {
		return "", fmt.Errorf("killed: %w", errors.Join(core.ErrUnavailable, core.ErrNotStored))
	}
	return l.Log.Append(ctx, op)
}

func TestDataPlaneResumesAfterItsNodeWasKilled(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		cfg := core.Config{DataPlane: b.dp}
		doomed := &killableLog{Log: b.log}
		a := startNode(t, doomed, cfg, "doomed")
		rest := newCluster(t, b.log, 2, cfg)
		c := listen(t, a.Hub, "alice", "c")
		publishTexts(t, rest[1].Hub, "c", numbered(0, 4)...)
		c.waitFor(t, 4, testDeadline)
		cursor := c.sess.Cursor()
		publishTexts(t, rest[1].Hub, "c", "unread")
		waitUntil(t, testDeadline, "the unread frame queued", func() bool { return a.QueuedFrames() > 0 })

		doomed.dead.Store(true)
		a.stop()
		<-a.done
		publishTexts(t, rest[1].Hub, "c", "later")
		c.hub = rest[0].Hub
		cur, _ := core.ParseCursor(cursor)
		c.attach(t, core.AttachOptions{Transport: "test", Resume: true, LastSeq: cur.Seq, Cursor: cursor})
		wantTexts(t, "alice after her node died", c.waitFor(t, 2, testDeadline), []string{"unread", "later"})
		c.expectNothing(t)
	})
}

func TestDataPlaneResumeOlderThanRetentionIsAGap(t *testing.T) {
	eachDataPlane(t, func(d *core.MemoryDataPlane) { d.MaxLen = 5 }, func(t *testing.T, b dpBackend) {
		nodes := newDPCluster(t, b, 2, core.Config{})
		c := listen(t, nodes[0].Hub, "alice", "c")
		publishTexts(t, nodes[0].Hub, "c", "first")
		c.waitFor(t, 1, testDeadline)
		cursor := c.sess.Cursor()
		c.sess.Detach()
		publishTexts(t, nodes[0].Hub, "c", numbered(0, 20)...)

		c.hub = nodes[1].Hub
		cur, _ := core.ParseCursor(cursor)
		c.attach(t, core.AttachOptions{Transport: "test", Resume: true, LastSeq: cur.Seq, Cursor: cursor})
		_, frames := c.takeRaw(t, 0)
		if len(frames) == 0 || frames[0].typ() != "gap" || frames[0].seq() != cur.Seq+1 {
			t.Fatalf("after a cursor older than retention got %v, want a gap frame first", frames)
		}
		rest := texts(frames[1:])
		if len(rest) == 0 || len(rest) > 5 || rest[len(rest)-1] != "19" {
			t.Fatalf("after the gap got %v, want the retained end of 0..19", rest)
		}
		if last := frames[len(frames)-1]; last.str("cursor") == "" {
			t.Fatalf("the list's last object has no cursor: %v", last)
		}
	})
}

func TestDataPlaneSubscribeWhileHeldDeliversFromTheJoinPoint(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		nodes := newDPCluster(t, b, 3, core.Config{})
		ctx := t.Context()
		other := connect(t, nodes[2].Hub, "other", "d") // makes "d"
		_ = other
		publishTexts(t, nodes[2].Hub, "d", "before")
		c := connect(t, nodes[0].Hub, "alice", "c")
		c.hub = nodes[1].Hub
		c.attach(t, core.AttachOptions{Transport: "test"})
		if _, err := nodes[0].Subscribe(ctx, core.SubscribeParams{ConnID: c.ID, Channels: []string{"d"}}); err != nil {
			t.Fatal(err)
		}
		publishTexts(t, nodes[2].Hub, "d", "after")
		wantTexts(t, "alice", c.waitFor(t, 1, testDeadline), []string{"after"})
		if _, err := nodes[2].Unsubscribe(ctx, core.SubscribeParams{ConnID: c.ID, Channels: []string{"d"}}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, testDeadline, "node1 to stop following d", func() bool { return nodes[1].DPStreams() == 2 })
		publishTexts(t, nodes[2].Hub, "d", "gone")
		publishTexts(t, nodes[2].Hub, "c", "still")
		wantTexts(t, "alice", c.waitFor(t, 1, testDeadline), []string{"still"})
		c.expectNothing(t)
	})
}

// A catch-up of several streams queues what one node published in the
// order it published it, although streams are not ordered with each
// other live.
func TestDataPlaneCatchUpKeepsThePublishOrderAcrossStreams(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		nodes := newDPCluster(t, b, 2, core.Config{})
		c := connect(t, nodes[0].Hub, "alice", "c")
		if p, q := b.dp.Partition(core.Stream{Kind: core.ChannelStream, Name: "c"}),
			b.dp.Partition(core.Stream{Kind: core.UserStream, Name: "alice"}); p == q {
			t.Fatalf("c and alice share partition %d: pick other names", p)
		}
		var msgs []core.Message
		for i := range 6 {
			m := msg("c", fmt.Sprint(i))
			if i%2 == 1 {
				m = msg("", fmt.Sprint(i))
				m.PMUsers = []string{"alice"}
			}
			msgs = append(msgs, m)
		}
		if err := nodes[0].Publish(t.Context(), msgs); err != nil {
			t.Fatal(err)
		}
		c.hub = nodes[1].Hub
		c.attach(t, core.AttachOptions{Transport: "test"})
		wantTexts(t, "alice", c.waitFor(t, 6, testDeadline), numbered(0, 6))
	})
}
