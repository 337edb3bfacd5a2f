package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// TestDataPlaneRedisBackEmptyTellsAtOnceAndNeverAgain restarts the data
// plane's redis-server empty (the log lives elsewhere) under a connection
// attached to a node. The connection is told with a gap frame at once,
// though none of its streams gets an entry afterwards (a quiet stream
// must not hold the news back until its next entry), and its cursor moves
// to the new epochs: a new entry comes without another gap, and a resume
// from the cursor on another node reads the quiet streams without a gap
// either (a cursor still naming the lost epoch would announce the loss
// again on every move).
func TestDataPlaneRedisBackEmptyTellsAtOnceAndNeverAgain(t *testing.T) {
	srv := redistest.Start(t)
	dp, err := redisbroker.NewDataPlane(redisbroker.Config{URL: srv.URL(), MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })
	nodes := newDPCluster(t, dpBackend{log: core.NewMemoryLog(), dp: dp}, 2, core.Config{})
	c := listen(t, nodes[0].Hub, "alice", "c", "quiet")
	publishTexts(t, nodes[0].Hub, "c", "before")
	wantTexts(t, "alice", c.waitFor(t, 1, testDeadline), []string{"before"})
	streams := []core.Stream{{Name: "c"}, {Name: "quiet"}, {Kind: core.UserStream, Name: "alice"}}

	srv.Stop()
	srv.Restart() // empty: every partition in a new epoch
	var heads []core.Pos
	waitUntil(t, testDeadline, "the data plane back", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		heads, err = dp.Heads(ctx, streams)
		return err == nil
	})
	// Every partition of alice's streams reaches the connection: its
	// cursor names the new epochs, with nothing published meanwhile.
	var frames []frame
	moved := func() bool {
		cur, err := core.ParseCursor(c.sess.Cursor())
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range heads {
			if p, ok := cur.At(h.Partition); !ok || p.Epoch != h.Epoch {
				return false
			}
		}
		return true
	}
	deadline := time.After(testDeadline)
	for !moved() {
		select {
		case <-c.sess.Ready():
			_, got := c.takeRaw(t, 0)
			frames = append(frames, got...)
		case <-deadline:
			t.Fatalf("within %v of Redis back empty, alice got %v and her cursor %s names old epochs (heads %v)", testDeadline, frames, c.sess.Cursor(), heads)
		}
	}
	if len(frames) == 0 || len(frames) > len(streams) {
		t.Fatalf("after Redis came back empty alice got %v, want one gap frame per partition at most", frames)
	}
	for _, f := range frames {
		if f.typ() != "gap" {
			t.Fatalf("after Redis came back empty alice got %v, want gap frames only", frames)
		}
	}

	waitUntil(t, testDeadline, "a publish accepted", func() bool {
		return nodes[0].Publish(context.Background(), []core.Message{msg("c", "after")}) == nil
	})
	_, got := c.takeRaw(t, 0)
	for len(got) == 0 {
		got = c.waitForRaw(t)
	}
	if len(got) != 1 || got[0].text() != "after" {
		t.Fatalf("the first message after the reset came as %v, want it alone, without a gap", got)
	}
	cursor := c.sess.Cursor()
	cur, err := core.ParseCursor(cursor)
	if err != nil {
		t.Fatal(err)
	}
	c.sess.Detach()
	c.hub = nodes[1].Hub
	c.attach(t, core.AttachOptions{Transport: "test", Resume: true, LastSeq: cur.Seq, Cursor: cursor})
	c.expectNothing(t)
}

// waitForRaw waits for the next batch (gap objects kept).
func (c *client) waitForRaw(t *testing.T) []frame {
	t.Helper()
	select {
	case <-c.sess.Ready():
		_, got := c.takeRaw(t, 0)
		return got
	case <-time.After(testDeadline):
		t.Fatalf("%s: nothing within %v", c.User, testDeadline)
		return nil
	}
}
