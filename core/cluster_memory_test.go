package core_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// BenchmarkClusterBystanderMemory measures the heap a node spends per
// cluster connection whose transport it does not hold: node0 makes conns
// connections (500 users, 100 channels of notify_presence), attaches
// them all to itself and publishes msgs messages to every channel; then
// node1 starts, replays the log and catches up, and the heap it added is
// divided by conns. The data-plane design targets at most 1 KiB.
//
// With dataplane=true the nodes run in data-plane mode (a MemoryDataPlane):
// node1 then holds no queue and receives no message.
//
// allocs/conn is what node1 allocated while catching up (objects, from
// runtime.MemStats.Mallocs), per connection: the bystander's work.
//
// The personal shape is csbench cluster's: every connection its own user
// in its own channel (default config), no message.
//
// With BYSTANDER_HEAPPROFILE=prefix set, each run writes prefix.base and
// prefix.after (heap profiles at every allocation, before node1 starts
// and after it caught up): go tool pprof -base prefix.base ... prefix.after
// shows what node1 keeps.
func BenchmarkClusterBystanderMemory(b *testing.B) {
	for _, dp := range []bool{false, true} {
		for _, msgs := range []int{0, 20} {
			b.Run(fmt.Sprintf("dataplane=%v/messages=%d", dp, msgs), func(b *testing.B) {
				var perConn, allocs float64
				for b.Loop() {
					perConn, allocs = bystanderBytes(b, 5000, msgs, dp, false)
				}
				b.ReportMetric(perConn, "B/conn")
				b.ReportMetric(allocs, "allocs/conn")
			})
		}
	}
	b.Run("dataplane=true/personal", func(b *testing.B) {
		var perConn, allocs float64
		for b.Loop() {
			perConn, allocs = bystanderBytes(b, 5000, 0, true, true)
		}
		b.ReportMetric(perConn, "B/conn")
		b.ReportMetric(allocs, "allocs/conn")
	})
}

func bystanderBytes(b *testing.B, conns, msgs int, dataPlane, personal bool) (perConn, allocs float64) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	log := core.NewMemoryLog()
	// No snapshots: node1 replays every entry, as a node that was there
	// from the start applied them.
	cfg := core.Config{SnapshotEvery: 1 << 30, ConnTimeout: time.Minute}
	if dataPlane {
		cfg.DataPlane = core.NewMemoryDataPlane()
	}
	ctx := context.Background()
	n0 := startBenchNode(b, log, cfg, "node0")
	if _, err := n0.ConfigureChannels(ctx, presenceRooms(100)); err != nil {
		b.Fatal(err)
	}
	for i := range conns {
		p := core.ConnectParams{Username: fmt.Sprint("user", i%500), Channels: []string{fmt.Sprint("room", i%100)}}
		if personal {
			p = core.ConnectParams{Username: fmt.Sprint("user", i), Channels: []string{fmt.Sprint("personal", i)}}
		}
		res, err := n0.Connect(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n0.Attach(res.ConnID, core.AttachOptions{Transport: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range msgs * 100 {
		if err := n0.Publish(ctx, []core.Message{benchMessage(fmt.Sprint("room", i%100), 100)}); err != nil {
			b.Fatal(err)
		}
	}
	if err := n0.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	profile := os.Getenv("BYSTANDER_HEAPPROFILE")
	if profile != "" {
		defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1
	}
	before := heapAfterGC()
	writeHeapProfile(b, profile, "base")
	mallocs := mallocsNow()
	n1 := startBenchNode(b, log, cfg, "node1")
	if err := n1.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	if got := n1.Gauges().Conns; got != conns {
		b.Fatalf("node1 holds %d connections, want %d", got, conns)
	}
	allocs = float64(mallocsNow()-mallocs) / float64(conns)
	after := heapAfterGC()
	writeHeapProfile(b, profile, "after")
	runtime.KeepAlive(n0)
	runtime.KeepAlive(n1)
	return float64(int64(after)-int64(before)) / float64(conns), allocs
}

// presenceRooms is the configuration of n channels room0… that notify
// presence.
func presenceRooms(n int) map[string]core.ChannelConfig {
	configs := make(map[string]core.ChannelConfig, n)
	for i := range n {
		c := core.DefaultChannelConfig()
		c.NotifyPresence = true
		configs[fmt.Sprint("room", i)] = c
	}
	return configs
}

// writeHeapProfile writes the heap profile to prefix.suffix unless
// prefix is "".
func writeHeapProfile(b *testing.B, prefix, suffix string) {
	b.Helper()
	if prefix == "" {
		return
	}
	f, err := os.Create(prefix + "." + suffix)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

func mallocsNow() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// startBenchNode runs a hub on log until the benchmark ends and waits
// until it is ready.
func startBenchNode(b *testing.B, log core.Log, cfg core.Config, id string) *core.Hub {
	b.Helper()
	cfg.Log, cfg.NodeID = log, id
	h := core.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.Run(ctx)
	}()
	b.Cleanup(func() { cancel(); <-done })
	waitUntil(b, 30*time.Second, id+" ready", func() bool { return h.Ready(context.Background()) == nil })
	return h
}
