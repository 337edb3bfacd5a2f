package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// benchMessage is a channel message whose encoded body is about size bytes.
func benchMessage(channel string, size int) core.Message {
	m := msg(channel, strings.Repeat("x", max(size-150, 1)))
	m.UUID = "33333333-3333-4333-8333-333333333333"
	return m
}

// fanout is a channel of n connections, each with an attached session
// when sessions is true.
type fanout struct {
	hub      *core.Hub
	sessions []*core.Session
}

func newFanout(tb testing.TB, n int, sessions bool) *fanout {
	tb.Helper()
	h := core.New(core.Config{})
	f := &fanout{hub: h}
	for i := range n {
		res, err := h.Connect(context.Background(), core.ConnectParams{Username: fmt.Sprintf("u%d", i), Channels: []string{"bench"}})
		if err != nil {
			tb.Fatal(err)
		}
		if sessions {
			s, err := h.Attach(res.ConnID, core.AttachOptions{Transport: "bench"})
			if err != nil {
				tb.Fatal(err)
			}
			f.sessions = append(f.sessions, s)
		}
	}
	return f
}

// publishAndDrain publishes m and lets every session take it, as each
// transport's writer would, reusing one write buffer.
func (f *fanout) publishAndDrain(msgs []core.Message, buf []byte) []byte {
	f.hub.Publish(context.Background(), msgs)
	for _, s := range f.sessions {
		buf, _, _ = s.Next(buf[:0], 0)
	}
	return buf
}

// BenchmarkPublish measures one message published to a channel of 1, 100
// and 10 000 connections, with attached sessions that take every frame
// (Next) or with no transport attached at all, for 100 B and 10 KB
// bodies. ns/delivery and allocs/delivery divide by the connections
// reached; allocs/delivery must not grow with the body size.
func BenchmarkPublish(b *testing.B) {
	for _, conns := range []int{1, 100, 10_000} {
		for _, size := range []int{100, 10 << 10} {
			for _, sessions := range []bool{true, false} {
				mode := "detached"
				if sessions {
					mode = "sessions"
				}
				name := fmt.Sprintf("conns=%d/body=%s/%s", conns, sizeName(size), mode)
				b.Run(name, func(b *testing.B) {
					f := newFanout(b, conns, sessions)
					msgs := []core.Message{benchMessage("bench", size)}
					buf := make([]byte, 0, 64<<10)
					b.ReportAllocs()
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					for b.Loop() {
						buf = f.publishAndDrain(msgs, buf)
					}
					runtime.ReadMemStats(&after)
					deliveries := float64(b.N) * float64(conns)
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
					b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deliveries, "allocs/delivery")
					if got := f.hub.Stats().TotalMessages.Load(); got < int64(deliveries) {
						b.Fatalf("delivered %d of %v", got, deliveries)
					}
				})
			}
		}
	}
}

// BenchmarkRoute measures the hub's routing alone in its steady state: a
// publish to a channel of 10 000 attached connections whose sessions take
// and acknowledge every frame (so no queue grows), to everyone or to
// everyone but one user (exclude_users, as presence frames do). The
// allocations are the message's own (clone, encoding, frame): none may
// depend on the number of connections.
func BenchmarkRoute(b *testing.B) {
	const conns = 10_000
	for _, exclude := range []bool{false, true} {
		b.Run(fmt.Sprintf("conns=%d/exclude=%v", conns, exclude), func(b *testing.B) {
			f := newFanout(b, conns, true)
			m := benchMessage("bench", 100)
			if exclude {
				m.ExcludeUsers = []string{"u0"}
			}
			msgs := []core.Message{m}
			buf := make([]byte, 0, 64<<10)
			drain := func() {
				for _, s := range f.sessions {
					var last uint64
					buf, _, last = s.Next(buf[:0], 0)
					s.Ack(last)
				}
			}
			f.hub.Publish(context.Background(), msgs)
			drain()
			b.ReportAllocs()
			var routing time.Duration
			for b.Loop() {
				start := time.Now()
				f.hub.Publish(context.Background(), msgs)
				routing += time.Since(start)
				drain()
			}
			b.ReportMetric(float64(routing.Nanoseconds())/float64(b.N)/conns, "route-ns/delivery")
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkConnect measures POST /connect's core work from many goroutines:
// a new user and connection joining one shared channel.
func BenchmarkConnect(b *testing.B) {
	h := core.New(core.Config{})
	var id atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			_, err := h.Connect(ctx, core.ConnectParams{
				Username:  fmt.Sprintf("user%d", id.Add(1)),
				Channels:  []string{"lobby"},
				UserState: core.State{"k": "v"},
				Info:      core.InfoOptions{IncludeHistory: true},
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkInfo measures /info with the upstream defaults (history, users)
// over 10 000 channels, each with one connection and some history.
func BenchmarkInfo(b *testing.B) {
	ctx := context.Background()
	h := core.New(core.Config{})
	cfg := core.DefaultChannelConfig()
	cfg.StoreHistory, cfg.HistorySize = true, 2
	configs := make(map[string]core.ChannelConfig, 10_000)
	for i := range 10_000 {
		configs[fmt.Sprintf("ch%05d", i)] = cfg
	}
	h.ConfigureChannels(ctx, configs)
	for i := range 1_000 {
		var chans []string
		for j := range 10 {
			chans = append(chans, fmt.Sprintf("ch%05d", i*10+j))
		}
		if _, err := h.Connect(ctx, core.ConnectParams{Username: fmt.Sprintf("u%d", i), Channels: chans}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 1_000 {
		h.Publish(ctx, []core.Message{msg(fmt.Sprintf("ch%05d", i*10), "history")})
	}
	b.ReportAllocs()
	for b.Loop() {
		info := h.Info(ctx, core.DefaultInfoOptions())
		if len(info.Channels) != 10_000 {
			b.Fatalf("%d channels", len(info.Channels))
		}
	}
}

// BenchmarkInfoJSON adds the encoding an HTTP handler does.
func BenchmarkInfoJSON(b *testing.B) {
	ctx := context.Background()
	h := core.New(core.Config{})
	configs := make(map[string]core.ChannelConfig, 10_000)
	for i := range 10_000 {
		configs[fmt.Sprintf("ch%05d", i)] = core.DefaultChannelConfig()
	}
	h.ConfigureChannels(ctx, configs)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(h.Info(ctx, core.DefaultInfoOptions())); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPublishAllocsDoNotGrowWithBody guards the encode-once model: the
// allocations of one publish to 100 connections (with sessions taking the
// frame) are the same for a 100 B and a 10 KB body, and well under one per
// delivery.
func TestPublishAllocsDoNotGrowWithBody(t *testing.T) {
	const conns = 100
	allocs := map[int]float64{}
	for _, size := range []int{100, 10 << 10} {
		f := newFanout(t, conns, true)
		msgs := []core.Message{benchMessage("bench", size)}
		buf := make([]byte, 0, 64<<10)
		allocs[size] = testing.AllocsPerRun(50, func() { buf = f.publishAndDrain(msgs, buf) })
	}
	t.Logf("allocs per publish to %d conns: 100 B %.1f, 10 KB %.1f", conns, allocs[100], allocs[10<<10])
	if allocs[10<<10] > allocs[100] {
		t.Errorf("a 10 KB body allocates %.1f times per publish, a 100 B one %.1f", allocs[10<<10], allocs[100])
	}
	if per := allocs[100] / conns; per > 0.5 {
		t.Errorf("%.2f allocs per delivery", per)
	}
}
