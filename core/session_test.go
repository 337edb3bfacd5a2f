package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// send publishes n messages "<prefix>0".."<prefix>n-1" to channel.
func send(h *core.Hub, channel, prefix string, n int) {
	for i := range n {
		publish(h, msg(channel, fmt.Sprintf("%s%d", prefix, i)))
	}
}

func seqs(frames []frame) []uint64 {
	out := make([]uint64, 0, len(frames))
	for _, f := range frames {
		out = append(out, f.seq())
	}
	return out
}

func catchups(frames []frame) []any {
	out := make([]any, 0, len(frames))
	for _, f := range frames {
		out = append(out, f["catchup"])
	}
	return out
}

func TestSeqAndCatchup(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	c := connect(t, h, "alice", "room")
	send(h, "room", "early", 2)
	c.attach(t, core.AttachOptions{})
	send(h, "room", "live", 2)
	publish(h, edit("room", core.NewUUID(), `{}`), del("room", core.NewUUID()))

	got := c.take(t)
	if want := []uint64{1, 2, 3, 4, 5, 6}; !slices.Equal(seqs(got), want) {
		t.Fatalf("seqs = %v, want %v", seqs(got), want)
	}
	if want := []any{true, true, false, false, nil, nil}; !slices.Equal(catchups(got), want) {
		t.Errorf("catchup = %v, want %v (queued while detached: true; live edit/delete: no key)", catchups(got), want)
	}

	t.Run("seqs are per connection", func(t *testing.T) {
		other := listen(t, h, "bob", "room")
		publish(h, msg("room", "x"))
		if f := other.takeOne(t); f.seq() != 1 {
			t.Errorf("bob's first seq = %d", f.seq())
		}
		if f := c.takeOne(t); f.seq() != 7 {
			t.Errorf("alice's seq = %d", f.seq())
		}
	})

	t.Run("Next appends to dst", func(t *testing.T) {
		publish(h, msg("room", "y"))
		out, n, last := c.sess.Next([]byte("prefix:"), 0)
		if n != 1 || last != 8 || !bytes.HasPrefix(out, []byte("prefix:[{")) {
			t.Errorf("Next = %q, %d, %d", out, n, last)
		}
		c.pos = last
		out, n, last = c.sess.Next([]byte("keep"), 0)
		if string(out) != "keep" || n != 0 || last != 8 {
			t.Errorf("empty Next = %q, %d, %d", out, n, last)
		}
	})
}

func TestAttach(t *testing.T) {
	tests := []struct {
		name    string
		opts    core.AttachOptions
		want    []string
		catchup []any
	}{
		{"without resume starts after what the earlier transport took", core.AttachOptions{}, []string{"d0", "d1"}, []any{true, true}},
		{"resume re-delivers exactly what follows last_seq", core.AttachOptions{Resume: true, LastSeq: 2}, []string{"t2", "d0", "d1"}, []any{false, true, true}},
		{"resume from zero re-delivers everything retained", core.AttachOptions{Resume: true, LastSeq: 0}, []string{"t0", "t1", "t2", "d0", "d1"}, []any{false, false, false, true, true}},
		{"resume at the end delivers nothing old", core.AttachOptions{Resume: true, LastSeq: 5}, nil, nil},
		{"resume beyond the end is clamped", core.AttachOptions{Resume: true, LastSeq: 99}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHub(t, core.Config{})
			c := listen(t, h, "alice", "room")
			send(h, "room", "t", 3)
			if got := texts(c.take(t)); len(got) != 3 {
				t.Fatalf("first transport took %v", got)
			}
			c.sess.Detach()
			if !isDone(c.sess) {
				t.Error("Detach did not end the session")
			}
			send(h, "room", "d", 2)

			s := c.attach(t, tc.opts)
			if tc.opts.LastSeq > 5 {
				c.pos = 5 // the hub clamps to the last seq it made
			}
			got := c.take(t)
			if !slices.Equal(texts(got), tc.want) {
				t.Errorf("got %v, want %v", texts(got), tc.want)
			}
			if !slices.Equal(catchups(got), tc.catchup) {
				t.Errorf("catchup = %v, want %v", catchups(got), tc.catchup)
			}
			// Whatever the start, live frames follow without loss.
			publish(h, msg("room", "next"))
			if f := c.takeOne(t); f.seq() != 6 || f["catchup"] != false {
				t.Errorf("next = %v", f)
			}
			if isDone(s) {
				t.Errorf("session ended: %v", s.Reason())
			}
		})
	}
}

func TestAttachErrors(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	c := listen(t, h, "alice")

	t.Run("unknown conn fails with ErrUnknownConn", func(t *testing.T) {
		if _, err := h.Attach(core.NewUUID(), core.AttachOptions{}); !errors.Is(err, core.ErrUnknownConn) {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("a draining hub refuses attachments and keeps sessions", func(t *testing.T) {
		if h.Draining() {
			t.Fatal("Draining before Drain")
		}
		h.Drain()
		if !h.Draining() {
			t.Error("Draining false after Drain")
		}
		if _, err := h.Attach(c.ID, core.AttachOptions{}); !errors.Is(err, core.ErrDraining) {
			t.Errorf("err = %v, want ErrDraining", err)
		}
		if isDone(c.sess) {
			t.Errorf("Drain ended a session")
		}
		m := msg("", "pm")
		m.PMUsers = []string{"alice"}
		publish(h, m)
		c.takeOne(t)
	})
}

func TestReplace(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	c := listen(t, h, "alice", "room")
	first := c.sess
	send(h, "room", "a", 2)
	c.take(t)
	send(h, "room", "b", 1)

	second := c.attach(t, core.AttachOptions{Resume: true, LastSeq: 1})

	t.Run("the first session ends with DisconnectReplaced", func(t *testing.T) {
		if !isDone(first) || first.Reason() != core.DisconnectReplaced {
			t.Fatalf("first session: done %v", isDone(first))
		}
		if out, n, _ := first.Next(nil, 0); n != 0 || len(out) != 0 {
			t.Errorf("replaced session still reads: %s", out)
		}
		if first.ConnID() != c.ID || second.ConnID() != c.ID {
			t.Errorf("ConnID = %q / %q", first.ConnID(), second.ConnID())
		}
	})

	t.Run("an ack from the replaced session does not drop the new session's frames", func(t *testing.T) {
		first.Ack(2)
		if got := texts(c.take(t)); !slices.Equal(got, []string{"a1", "b0"}) {
			t.Errorf("second session got %v, want a1 b0", got)
		}
	})
}

func TestAck(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	c := listen(t, h, "alice", "room")
	send(h, "room", "m", 5)
	c.take(t)

	t.Run("ack beyond what was taken is capped", func(t *testing.T) {
		send(h, "room", "n", 1) // seq 6, not yet taken
		c.sess.Ack(100)
		c.sess.Detach()
		c.attach(t, core.AttachOptions{Resume: true, LastSeq: 5})
		if got := texts(c.take(t)); !slices.Equal(got, []string{"n0"}) {
			t.Errorf("got %v, want n0 kept", got)
		}
	})

	t.Run("resuming before an acked seq reports a gap", func(t *testing.T) {
		c.sess.Ack(6)
		c.attach(t, core.AttachOptions{Resume: true, LastSeq: 3})
		_, frames := c.takeRaw(t, 0)
		if len(frames) != 1 || frames[0].typ() != "gap" || frames[0].num("from_seq") != 4 || frames[0].num("to_seq") != 6 {
			t.Errorf("got %v, want only gap 4..6", frames)
		}
	})
}

func TestGap(t *testing.T) {
	tests := []struct {
		name     string
		opts     core.AttachOptions
		gap      string
		retained []uint64
	}{
		{"resume older than retained gets a leading gap", core.AttachOptions{Resume: true, LastSeq: 1}, `{"type":"gap","from_seq":2,"to_seq":6}`, []uint64{7, 8, 9, 10}},
		{"attach without resume reports what it never had", core.AttachOptions{}, `{"type":"gap","from_seq":3,"to_seq":6}`, []uint64{7, 8, 9, 10}},
		{"resume inside the retained window has no gap", core.AttachOptions{Resume: true, LastSeq: 8}, ``, []uint64{9, 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHub(t, core.Config{QueueFrames: 4})
			c := listen(t, h, "alice", "room")
			send(h, "room", "a", 2)
			c.take(t) // took 1, 2
			c.sess.Detach()
			send(h, "room", "b", 8) // 3..10; only 7..10 fit

			c.attach(t, tc.opts)
			raw, frames := c.takeRaw(t, 0)
			if tc.gap != "" && !bytes.HasPrefix(raw, []byte("["+tc.gap+",")) {
				t.Errorf("batch %s does not start with %s", raw, tc.gap)
			}
			got := slices.DeleteFunc(frames, func(f frame) bool { return f.typ() == "gap" })
			if !slices.Equal(seqs(got), tc.retained) {
				t.Errorf("seqs = %v, want %v", seqs(got), tc.retained)
			}
		})
	}

	t.Run("max 1 hands the gap out alone and signals more", func(t *testing.T) {
		h, _ := newHub(t, core.Config{QueueFrames: 2})
		c := connect(t, h, "alice", "room")
		send(h, "room", "m", 3)
		c.attach(t, core.AttachOptions{Resume: true})
		<-c.sess.Ready()
		_, frames := c.takeRaw(t, 1)
		if len(frames) != 1 || frames[0].typ() != "gap" {
			t.Fatalf("got %v", frames)
		}
		select {
		case <-c.sess.Ready():
		default:
			t.Fatal("Ready not signalled with frames left")
		}
		if _, frames := c.takeRaw(t, 1); len(frames) != 1 || frames[0].seq() != 2 {
			t.Errorf("got %v, want seq 2", frames)
		}
		if _, frames := c.takeRaw(t, 0); len(frames) != 1 || frames[0].seq() != 3 {
			t.Errorf("got %v, want seq 3", frames)
		}
	})
}

func TestQueueBounds(t *testing.T) {
	t.Run("frames bound evicts the oldest while detached", func(t *testing.T) {
		h, _ := newHub(t, core.Config{QueueFrames: 5})
		c := connect(t, h, "alice", "room")
		send(h, "room", "m", 12)
		c.attach(t, core.AttachOptions{})
		_, frames := c.takeRaw(t, 0)
		if len(frames) != 6 || frames[0].typ() != "gap" || frames[0].num("to_seq") != 7 {
			t.Errorf("got %v, want gap 1..7 then 5 frames", frames)
		}
	})

	t.Run("bytes bound holds", func(t *testing.T) {
		const limit = 2000
		h, _ := newHub(t, core.Config{QueueBytes: limit})
		c := connect(t, h, "alice", "room")
		pad := strings.Repeat("p", 150)
		send(h, "room", pad, 40)
		c.attach(t, core.AttachOptions{})
		raw, frames := c.takeRaw(t, 0)
		var objs []json.RawMessage
		if err := json.Unmarshal(raw, &objs); err != nil {
			t.Fatal(err)
		}
		if frames[0].typ() != "gap" {
			t.Fatalf("no gap in %s", raw)
		}
		total, biggest := 0, 0
		for _, o := range objs[1:] {
			total += len(o)
			biggest = max(biggest, len(o))
		}
		// Each delivered object is larger than its body by less than the
		// queue's per-frame overhead, so the sum stays under the limit.
		if total > limit {
			t.Errorf("retained %d bytes in %d frames, limit %d", total, len(objs)-1, limit)
		}
		if kept := len(objs) - 1; kept < limit/(biggest+32)-1 {
			t.Errorf("kept only %d frames of %d bytes under a %d byte limit", kept, biggest, limit)
		}
		if last := frames[len(frames)-1]; last.seq() != 40 {
			t.Errorf("last seq %d, want the newest kept", last.seq())
		}
	})

	t.Run("a single frame larger than the bytes bound is still delivered", func(t *testing.T) {
		h, _ := newHub(t, core.Config{QueueBytes: 100})
		c := connect(t, h, "alice", "room")
		big := strings.Repeat("b", 1000)
		send(h, "room", big, 2)
		c.attach(t, core.AttachOptions{})
		_, frames := c.takeRaw(t, 0)
		if len(frames) != 2 || frames[0].typ() != "gap" || frames[1].text() != big+"1" {
			t.Errorf("got %d objects, want gap + the last big frame", len(frames))
		}
	})
}

func TestSlowConsumer(t *testing.T) {
	h, _ := newHub(t, core.Config{QueueFrames: 5})
	fast := listen(t, h, "fast", "room")
	slow := listen(t, h, "slow", "room")
	taker := listen(t, h, "taker", "room") // takes but never acks

	for i := range 6 {
		publish(h, msg("room", fmt.Sprintf("m%d", i)))
		fast.takeOne(t)
		taker.takeOne(t)
	}

	t.Run("the session that does not take is ended with DisconnectSlow", func(t *testing.T) {
		if !isDone(slow.sess) || slow.sess.Reason() != core.DisconnectSlow {
			t.Fatalf("slow session done=%v", isDone(slow.sess))
		}
		if got := h.Stats().SlowDisconnects.Load(); got != 1 {
			t.Errorf("SlowDisconnects = %d", got)
		}
	})

	t.Run("sessions that took their frames are not slow even without acks", func(t *testing.T) {
		for i := range 20 {
			publish(h, msg("room", fmt.Sprintf("more%d", i)))
			fast.takeOne(t)
			taker.takeOne(t)
		}
		if isDone(fast.sess) || isDone(taker.sess) {
			t.Errorf("fast done=%v taker done=%v", isDone(fast.sess), isDone(taker.sess))
		}
	})

	t.Run("the slow client resumes and learns of the gap", func(t *testing.T) {
		slow.attach(t, core.AttachOptions{Resume: true, LastSeq: 0})
		_, frames := slow.takeRaw(t, 0)
		if len(frames) != 6 || frames[0].typ() != "gap" || frames[0].num("to_seq") != 21 {
			t.Errorf("got %v", frames)
		}
	})
}

func TestReady(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	c := connect(t, h, "alice", "room")

	t.Run("attach with frames waiting signals Ready", func(t *testing.T) {
		publish(h, msg("room", "x"))
		s := c.attach(t, core.AttachOptions{})
		select {
		case <-s.Ready():
		default:
			t.Fatal("Ready not signalled")
		}
		c.takeOne(t)
	})

	t.Run("a publish signals Ready", func(t *testing.T) {
		select {
		case <-c.sess.Ready():
			t.Fatal("Ready signalled with nothing waiting")
		default:
		}
		publish(h, msg("room", "y"))
		select {
		case <-c.sess.Ready():
		default:
			t.Fatal("Ready not signalled")
		}
		c.takeOne(t)
	})

	t.Run("waitFor takes frames published by another goroutine", func(t *testing.T) {
		go send(h, "room", "bg", 50)
		got := c.waitFor(t, 50, testDeadline)
		if len(got) != 50 {
			t.Errorf("got %d", len(got))
		}
	})

	t.Run("Detach ends the session and keeps the conn", func(t *testing.T) {
		s := c.sess
		s.Detach()
		if !isDone(s) || s.Reason().Code != 1000 {
			t.Errorf("detached session: done %v", isDone(s))
		}
		s.Detach() // twice is fine
		publish(h, msg("room", "later"))
		c.attach(t, core.AttachOptions{})
		if f := c.takeOne(t); f["catchup"] != true {
			t.Errorf("got %v", f)
		}
		if _, err := h.Subscribe(context.Background(), core.SubscribeParams{ConnID: c.ID, Channels: []string{"x"}}); err != nil {
			t.Errorf("conn gone after Detach: %v", err)
		}
	})
}

func TestDisconnectReasons(t *testing.T) {
	for _, d := range []core.Disconnect{core.DisconnectGone, core.DisconnectReplaced, core.DisconnectSlow, core.DisconnectShutdown} {
		var err error = d
		if !strings.Contains(err.Error(), d.Reason) || !strings.Contains(err.Error(), fmt.Sprint(d.Code)) {
			t.Errorf("Error() = %q", err.Error())
		}
	}
}

// TestAttachToFullQueue: a transport that attaches to a queue already full
// of catchup frames has not had a chance to take them; one more publish
// before its first Next must not end it as slow (it would reconnect into
// the same full queue again and again). The frames it loses that way are
// reported as a gap.
func TestAttachToFullQueue(t *testing.T) {
	tests := []struct {
		name string
		opts core.AttachOptions
	}{
		{"resuming transport survives", core.AttachOptions{Resume: true, LastSeq: 0}},
		{"fresh transport survives", core.AttachOptions{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHub(t, core.Config{QueueFrames: 4})
			c := connect(t, h, "alice", "room")
			send(h, "room", "old", 10) // retained 7..10
			s := c.attach(t, tc.opts)
			send(h, "room", "new", 2) // 11, 12 evict 7, 8
			if isDone(s) {
				t.Fatalf("session ended with %v before its first Next", s.Reason())
			}
			_, frames := c.takeRaw(t, 0)
			if len(frames) != 5 || frames[0].typ() != "gap" || frames[0].num("to_seq") != 8 || frames[4].seq() != 12 {
				t.Errorf("got %v, want gap 1..8 then 9..12", frames)
			}
			if got := h.Stats().SlowDisconnects.Load(); got != 0 {
				t.Errorf("SlowDisconnects = %d", got)
			}
		})
	}

	t.Run("a transport that then does not take its live frames is still slow", func(t *testing.T) {
		h, _ := newHub(t, core.Config{QueueFrames: 4})
		c := connect(t, h, "alice", "room")
		send(h, "room", "old", 10)
		s := c.attach(t, core.AttachOptions{})
		send(h, "room", "new", 4) // 11..14: the backlog is gone, nothing live lost yet
		if isDone(s) {
			t.Fatalf("ended with %v while only backlog was evicted", s.Reason())
		}
		send(h, "room", "more", 1) // 15 evicts 11, which came while attached
		if !isDone(s) || s.Reason() != core.DisconnectSlow {
			t.Fatalf("session not ended as slow")
		}
	})
}

func TestLeaveRemovesTheConnectionUnlessAnotherTransportAttached(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	t.Run("detached session: removed", func(t *testing.T) {
		c := connect(t, h, "alice", "room")
		s := c.attach(t, core.AttachOptions{})
		s.Detach()
		if removed, err := s.Leave(context.Background()); !removed || err != nil {
			t.Fatalf("Leave = %v, %v; want true, nil", removed, err)
		}
		if h.HasConn(c.ID) {
			t.Fatal("connection still known after Leave")
		}
	})
	t.Run("a newer session attached: kept", func(t *testing.T) {
		c := connect(t, h, "bob", "room")
		old := c.attach(t, core.AttachOptions{})
		c.attach(t, core.AttachOptions{})
		old.Detach()
		if removed, err := old.Leave(context.Background()); removed || err != nil {
			t.Fatalf("Leave = %v, %v; want false, nil", removed, err)
		}
		if !h.HasConn(c.ID) {
			t.Fatal("the old session's Leave removed a connection another transport holds")
		}
	})
}

// TestNotifyIsCalledWhenTheSessionEnds: a transport that waits without a
// goroutine on Done (long-poll) learns of the session's end through its
// Notify function, called once Done is closed.
func TestNotifyIsCalledWhenTheSessionEnds(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	c := listen(t, h, "alice", "room")
	first := c.sess
	var calls, doneAtCall int
	first.Notify(func() {
		calls++
		if isDone(first) {
			doneAtCall++
		}
	})
	if calls != 0 {
		t.Fatalf("Notify called %d times with nothing waiting", calls)
	}
	c.attach(t, core.AttachOptions{})
	if calls != 1 || doneAtCall != 1 {
		t.Fatalf("after the replacement: %d calls, %d with Done closed; want 1, 1", calls, doneAtCall)
	}
}

func TestPendingGivesTheBirthOfTheOldestAndNewestFrameWaiting(t *testing.T) {
	h, clk := newHub(t, core.Config{})
	c := connect(t, h, "alice", "room")
	first := clk.Now()
	publish(h, msg("room", "a")) // queued before any transport attached
	clk.Add(300 * time.Millisecond)
	s := c.attach(t, core.AttachOptions{})
	clk.Add(200 * time.Millisecond)
	publish(h, msg("room", "b"))
	oldest, newest, ok := s.Pending()
	if !ok || !oldest.Equal(first) || !newest.Equal(first.Add(500*time.Millisecond)) {
		t.Fatalf("Pending = %v, %v, %v; want %v, %v, true", oldest, newest, ok, first, first.Add(500*time.Millisecond))
	}
	if got := texts(c.take(t)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("took %v", got)
	}
	if _, _, ok := s.Pending(); ok {
		t.Error("Pending reports frames once Next took them all")
	}
	clk.Add(time.Second)
	publish(h, msg("room", "c"))
	if oldest, _, ok := s.Pending(); !ok || !oldest.Equal(first.Add(1500*time.Millisecond)) {
		t.Errorf("Pending after a new frame = %v, %v; want %v", oldest, ok, first.Add(1500*time.Millisecond))
	}
	s.Detach()
	if _, _, ok := s.Pending(); ok {
		t.Error("a detached session reports frames pending")
	}
}

func TestEndedFollowsDone(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	c := connect(t, h, "alice", "room")
	s := c.attach(t, core.AttachOptions{})
	var endedInNotify []bool
	s.Notify(func() { endedInNotify = append(endedInNotify, s.Ended()) })
	publish(h, msg("room", "a"))
	if s.Ended() || isDone(s) {
		t.Fatal("a live session reports its end")
	}
	c.attach(t, core.AttachOptions{}) // replaces s
	if !s.Ended() || !isDone(s) {
		t.Fatalf("a replaced session: Ended %v, Done closed %v", s.Ended(), isDone(s))
	}
	if !slices.Equal(endedInNotify, []bool{false, true}) {
		t.Errorf("Ended in the Notify calls = %v, want [false true] (a frame, then the end)", endedInNotify)
	}
}
