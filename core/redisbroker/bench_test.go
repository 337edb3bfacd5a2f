package redisbroker_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// BenchmarkAppendFollow measures one round trip through Redis: Append, then
// the entry reaching a follower that waits in XREAD BLOCK (on a local
// redis-server; add the network's round trips in production).
func BenchmarkAppendFollow(b *testing.B) {
	srv := redistest.Start(b)
	l := newLog(b, srv, redisbroker.Config{})
	got := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Follow(ctx, "", func(core.Entry) { got <- struct{}{} }, nil)
	}()
	b.Cleanup(func() { cancel(); <-done })
	op := make([]byte, 200) // about a small published message
	append1 := func() {
		if _, err := l.Append(ctx, op); err != nil {
			b.Fatalf("Append: %v", err)
		}
		select {
		case <-got:
		case <-time.After(waitTimeout):
			b.Fatal("the follower did not get the entry")
		}
	}
	append1() // the follower is running
	b.ReportAllocs()
	for b.Loop() {
		append1()
	}
}

// BenchmarkAppend measures Append alone, from parallel goroutines.
func BenchmarkAppend(b *testing.B) {
	srv := redistest.Start(b)
	l := newLog(b, srv, redisbroker.Config{})
	op := make([]byte, 200)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(context.Background(), op); err != nil {
				b.Errorf("Append: %v", err)
				return
			}
		}
	})
}

// BenchmarkDataPlanePublish measures one publish (one script call: the
// entry stored, trimmed, published) of a 200-byte entry to one channel,
// from parallel goroutines, on a local redis-server.
func BenchmarkDataPlanePublish(b *testing.B) {
	srv := redistest.Start(b)
	d := newDataPlaneAt(b, srv.URL(), coretest.DataPlaneOptions{})
	pub := []core.Publication{{Stream: core.Stream{Name: "bench"}, Data: make([]byte, 200)}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Publish(context.Background(), pub); err != nil {
				b.Errorf("Publish: %v", err)
				return
			}
		}
	})
}

// BenchmarkDataPlaneDelivery measures the round trip of one entry: Publish,
// then the entry reaching a Subscriber of its stream (on a local
// redis-server; add the network's round trips in production).
func BenchmarkDataPlaneDelivery(b *testing.B) {
	srv := redistest.Start(b)
	d := newDataPlaneAt(b, srv.URL(), coretest.DataPlaneOptions{})
	st := core.Stream{Name: "bench"}
	got := make(chan struct{}, 1)
	sub := d.NewSubscriber(func(core.StreamEntry) { got <- struct{}{} }, nil)
	b.Cleanup(func() { _ = sub.Close() })
	if err := sub.Add(context.Background(), st); err != nil {
		b.Fatalf("Add: %v", err)
	}
	pub := []core.Publication{{Stream: st, Data: make([]byte, 200)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Publish(context.Background(), pub); err != nil {
			b.Fatalf("Publish: %v", err)
		}
		select {
		case <-got:
		case <-time.After(waitTimeout):
			b.Fatal("the subscriber did not get the entry")
		}
	}
}

// BenchmarkDataPlaneThroughput measures deliveries per second: parallel
// publishers to 64 channels of every partition, one Subscriber of all of
// them; each iteration is one entry published and delivered. It reports
// the CPU time redis-server spent per entry (storing and sending it).
func BenchmarkDataPlaneThroughput(b *testing.B) {
	srv := redistest.Start(b)
	d := newDataPlaneAt(b, srv.URL(), coretest.DataPlaneOptions{})
	var delivered atomic.Int64
	sub := d.NewSubscriber(func(core.StreamEntry) { delivered.Add(1) }, nil)
	b.Cleanup(func() { _ = sub.Close() })
	streams := make([]core.Stream, 64)
	for i := range streams {
		streams[i] = core.Stream{Name: "bench-" + strconv.Itoa(i)}
		if err := sub.Add(context.Background(), streams[i]); err != nil {
			b.Fatalf("Add: %v", err)
		}
	}
	var next atomic.Int64
	cpu0 := redisCPU(b, srv.Addr())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			st := streams[next.Add(1)%int64(len(streams))]
			if _, err := d.Publish(context.Background(), []core.Publication{{Stream: st, Data: make([]byte, 200)}}); err != nil {
				b.Errorf("Publish: %v", err)
				return
			}
		}
	})
	deadline := time.Now().Add(waitTimeout)
	for delivered.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := delivered.Load(); n != int64(b.N) {
		b.Fatalf("delivered %d of %d", n, b.N)
	}
	b.ReportMetric(float64((redisCPU(b, srv.Addr())-cpu0).Microseconds())/float64(b.N), "redis-µs/op")
}

// redisCPU is the CPU time (system and user) the server at addr used so
// far.
func redisCPU(b *testing.B, addr string) time.Duration {
	b.Helper()
	out, err := redistest.Command(addr, "INFO", "cpu")
	if err != nil {
		b.Fatalf("INFO: %v", err)
	}
	var sum time.Duration
	for _, line := range strings.Split(out, "\r\n") {
		name, v, _ := strings.Cut(line, ":")
		if name == "used_cpu_sys" || name == "used_cpu_user" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu: %q", line)
			}
			sum += time.Duration(f * float64(time.Second))
		}
	}
	return sum
}

// BenchmarkDataPlanePublishConcurrent is BenchmarkDataPlanePublish from
// 32 goroutines per CPU to 16 channels (several partitions), as many REST
// calls at once on a busy node; it reports the script calls Redis ran per
// publish (below 1 when concurrent calls shared a batch).
func BenchmarkDataPlanePublishConcurrent(b *testing.B) {
	srv := redistest.Start(b)
	d := newDataPlaneAt(b, srv.URL(), coretest.DataPlaneOptions{})
	var next atomic.Int64
	calls := func() int64 {
		out, err := redistest.Command(srv.Addr(), "INFO", "commandstats")
		if err != nil {
			b.Fatalf("INFO: %v", err)
		}
		_, rest, ok := strings.Cut(out, "cmdstat_evalsha:calls=")
		if !ok {
			return 0 // none yet
		}
		n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
		return n
	}
	before := calls()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			st := core.Stream{Name: "bench" + strconv.FormatInt(next.Add(1)%16, 10)}
			pub := []core.Publication{{Stream: st, Data: make([]byte, 200)}}
			if _, err := d.Publish(context.Background(), pub); err != nil {
				b.Errorf("Publish: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(calls()-before)/float64(b.N), "scripts/op")
}
