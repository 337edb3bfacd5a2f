package core_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// latencies records what Config.ObserveWrite receives.
type latencies struct {
	mu  sync.Mutex
	got []time.Duration
}

func (l *latencies) observe(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, d)
}

func (l *latencies) take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.got
	l.got = nil
	return out
}

func TestFramesDropped(t *testing.T) {
	h, _ := newHub(t, core.Config{QueueFrames: 3})
	c := connect(t, h, "alice", "room")
	for i := range 5 {
		publish(h, msg("room", fmt.Sprintf("m%d", i)))
	}

	t.Run("frames evicted before any transport took them are counted", func(t *testing.T) {
		if got := h.Stats().FramesDropped.Load(); got != 2 {
			t.Errorf("FramesDropped = %d, want 2", got)
		}
	})

	t.Run("taken frames kept for resume are evicted without counting", func(t *testing.T) {
		c.attach(t, core.AttachOptions{})
		c.take(t)
		for i := range 4 {
			publish(h, msg("room", fmt.Sprintf("n%d", i)))
			c.takeOne(t)
		}
		if got := h.Stats().FramesDropped.Load(); got != 2 {
			t.Errorf("FramesDropped = %d, want still 2", got)
		}
	})
}

func TestGauges(t *testing.T) {
	h, clk := newHub(t, core.Config{UserTimeout: time.Minute})
	attached := listen(t, h, "alice", "a", "b")
	waiting := connect(t, h, "bob", "a")
	connect(t, h, "carol")
	for i := range 3 {
		publish(h, msg("a", fmt.Sprintf("m%d", i)))
	}
	attached.take(t)

	t.Run("a snapshot of users, connections, channels and queues", func(t *testing.T) {
		g := h.Gauges()
		want := core.Gauges{Users: 3, ConnectedUsers: 3, Conns: 3, AttachedConns: 1, Channels: 2,
			QueuedFrames: 3, MaxQueuedFrames: 3, RetainedFrames: 6, RetainedBytes: g.RetainedBytes}
		if g != want || g.RetainedBytes <= 0 {
			t.Errorf("Gauges() = %+v, want %+v", g, want)
		}
	})

	t.Run("frames move from queued to taken when a transport takes them", func(t *testing.T) {
		waiting.attach(t, core.AttachOptions{})
		waiting.take(t)
		if g := h.Gauges(); g.QueuedFrames != 0 || g.MaxQueuedFrames != 0 || g.AttachedConns != 2 {
			t.Errorf("Gauges() = %+v", g)
		}
	})

	t.Run("the collector's removals are counted and leave the gauges", func(t *testing.T) {
		clk.Add(2 * time.Minute)
		attached.sess.Touch()
		if n := h.Collect(); n != 2 {
			t.Fatalf("Collect() = %d, want 2 (bob and carol)", n)
		}
		clk.Add(2 * time.Minute)
		attached.sess.Touch()
		h.Collect()
		st := h.Stats()
		if st.CollectedConns.Load() != 2 || st.CollectedUsers.Load() != 2 {
			t.Errorf("CollectedConns = %d, CollectedUsers = %d, want 2 and 2", st.CollectedConns.Load(), st.CollectedUsers.Load())
		}
		if g := h.Gauges(); g.Users != 1 || g.Conns != 1 || g.ConnectedUsers != 1 {
			t.Errorf("Gauges() = %+v", g)
		}
	})
}

func TestWritten(t *testing.T) {
	var lat latencies
	h, clk := newHub(t, core.Config{ObserveWrite: lat.observe, QueueFrames: 2})
	c := listen(t, h, "alice", "room")

	t.Run("one latency sample per frame written, from publish to Written", func(t *testing.T) {
		publish(h, msg("room", "a"))
		clk.Add(100 * time.Millisecond)
		publish(h, msg("room", "b"))
		clk.Add(150 * time.Millisecond)
		if got := len(c.take(t)); got != 2 {
			t.Fatalf("took %d frames", got)
		}
		clk.Add(50 * time.Millisecond)
		c.sess.Written()
		got := lat.take()
		want := []time.Duration{300 * time.Millisecond, 200 * time.Millisecond}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("latencies %v, want %v", got, want)
		}
		if n := h.Stats().FramesWritten.Load(); n != 2 {
			t.Errorf("FramesWritten = %d, want 2", n)
		}
	})

	t.Run("a second Written reports nothing", func(t *testing.T) {
		c.sess.Written()
		if got := lat.take(); len(got) != 0 || h.Stats().FramesWritten.Load() != 2 {
			t.Errorf("latencies %v, FramesWritten %d", got, h.Stats().FramesWritten.Load())
		}
	})

	t.Run("a Next that returns nothing leaves nothing to report", func(t *testing.T) {
		publish(h, msg("room", "c"))
		c.take(t)
		c.expectNothing(t)
		c.sess.Written()
		if got := lat.take(); len(got) != 0 {
			t.Errorf("latencies %v", got)
		}
	})

	t.Run("a gap object is not a frame", func(t *testing.T) {
		c.sess.Detach()
		for i := range 4 {
			publish(h, msg("room", fmt.Sprintf("d%d", i)))
		}
		c.attach(t, core.AttachOptions{Resume: true, LastSeq: c.pos})
		_, frames := c.takeRaw(t, 0)
		if len(frames) != 3 || frames[0].typ() != "gap" {
			t.Fatalf("got %v, want gap and 2 frames", types(frames))
		}
		before := h.Stats().FramesWritten.Load()
		c.sess.Written()
		if got := lat.take(); len(got) != 2 || h.Stats().FramesWritten.Load() != before+2 {
			t.Errorf("latencies %v, FramesWritten +%d", got, h.Stats().FramesWritten.Load()-before)
		}
	})

	t.Run("a long-poll style Written after Detach still reports", func(t *testing.T) {
		publish(h, msg("room", "e"))
		c.take(t)
		c.sess.Detach()
		c.sess.Written()
		if got := lat.take(); len(got) != 1 {
			t.Errorf("latencies %v, want one", got)
		}
	})

	t.Run("presence frames are measured too", func(t *testing.T) {
		h, clk := newHub(t, core.Config{ObserveWrite: lat.observe})
		h.ConfigureChannels(context.Background(), map[string]core.ChannelConfig{
			"room": channelCfg(func(c *core.ChannelConfig) { c.NotifyPresence = true })})
		watcher := listen(t, h, "watcher", "room")
		connect(t, h, "joiner", "room")
		frames := watcher.take(t)
		clk.Add(time.Second)
		watcher.sess.Written()
		if got := lat.take(); len(frames) != 1 || len(got) != 1 || got[0] != time.Second {
			t.Errorf("frames %v, latencies %v", types(frames), got)
		}
	})
}

func TestWrittenWithoutObserver(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	c := listen(t, h, "alice", "room")
	publish(h, msg("room", "a"), msg("room", "b"))
	c.take(t)
	c.sess.Written()
	if n := h.Stats().FramesWritten.Load(); n != 2 {
		t.Errorf("FramesWritten = %d, want 2", n)
	}
}

func TestNextAndWrittenAllocateNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	var observed int
	h, _ := newHub(t, core.Config{ObserveWrite: func(time.Duration) { observed++ }})
	c := listen(t, h, "alice", "room")
	for i := range 300 {
		publish(h, msg("room", fmt.Sprintf("m%d", i)))
	}
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(200, func() {
		buf, _, _ = c.sess.Next(buf[:0], 1)
		c.sess.Written()
	})
	if allocs != 0 || observed != 201 {
		t.Errorf("Next+Written: %v allocs per batch (want 0), %d samples (want 201)", allocs, observed)
	}
}

// BenchmarkPublishObserved is BenchmarkPublish's sessions case with the
// publish→write latency measured: every session reports its batch written
// (Session.Written) to an ObserveWrite hook. allocs/delivery must match
// BenchmarkPublish's.
func BenchmarkPublishObserved(b *testing.B) {
	for _, conns := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("conns=%d/body=100B", conns), func(b *testing.B) {
			var samples int64
			h := core.New(core.Config{ObserveWrite: func(time.Duration) { samples++ }})
			sessions := make([]*core.Session, 0, conns)
			for i := range conns {
				res, err := h.Connect(context.Background(), core.ConnectParams{Username: fmt.Sprintf("u%d", i), Channels: []string{"bench"}})
				if err != nil {
					b.Fatal(err)
				}
				s, err := h.Attach(res.ConnID, core.AttachOptions{Transport: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				sessions = append(sessions, s)
			}
			msgs := []core.Message{benchMessage("bench", 100)}
			buf := make([]byte, 0, 64<<10)
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				h.Publish(context.Background(), msgs)
				for _, s := range sessions {
					buf, _, _ = s.Next(buf[:0], 0)
					s.Written()
				}
			}
			runtime.ReadMemStats(&after)
			deliveries := float64(b.N) * float64(conns)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deliveries, "allocs/delivery")
			if samples < int64(deliveries) {
				b.Fatalf("observed %d of %v", samples, deliveries)
			}
		})
	}
}

func ExampleSession_Written() {
	ctx := context.Background()
	var lat []time.Duration
	h := core.New(core.Config{Now: exampleNow, ObserveWrite: func(d time.Duration) { lat = append(lat, d) }})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn, Channels: []string{"room"}})
	s, _ := h.Attach(aliceConn, core.AttachOptions{Transport: "example"})
	h.Publish(ctx, []core.Message{{Kind: core.KindSend, UUID: core.NewUUID(), Channel: "room"}})

	// A transport's writer: take the batch, write it, then report it.
	batch, n, _ := s.Next(nil, 0)
	_ = batch // written to the client here
	s.Written()
	fmt.Println(n, h.Stats().FramesWritten.Load(), lat)
	// Output: 1 1 [0s]
}

func ExampleHub_Gauges() {
	ctx := context.Background()
	h := core.New(core.Config{})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn, Channels: []string{"room"}})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "bob", ConnID: bobConn, Channels: []string{"room"}})
	_, _ = h.Attach(aliceConn, core.AttachOptions{Transport: "example"})
	h.Publish(ctx, []core.Message{{Kind: core.KindSend, UUID: core.NewUUID(), Channel: "room"}})
	g := h.Gauges()
	fmt.Println(g.Conns, g.AttachedConns, g.Channels, g.QueuedFrames, g.MaxQueuedFrames)
	// Output: 2 1 1 2 1
}
