//go:build unix

package core_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// BenchmarkControlPlaneApply measures what a bystander node (no socket, no
// REST call) spends applying the control plane's entries, in data-plane
// mode. One op is one client's visit through node0: connect to a channel
// with presence, a transport attaches, detaches and leaves (WebSocket
// close 1000). The log is filled with b.N visits first (timer stopped);
// the timed part is node1 starting and applying every entry, through the
// same apply path a running node follows the log with (no snapshot: it
// replays from the start). µs/entry is that time divided by the entries
// node1 applied; on Redis it includes waiting for XREAD's replies (the
// bystander's share of the round trips), so it bounds the bystander's CPU
// from above when every process shares one core.
func BenchmarkControlPlaneApply(b *testing.B) {
	backends := []struct {
		name string
		make func(b *testing.B) (core.Log, core.DataPlane)
	}{
		{"memory", func(*testing.B) (core.Log, core.DataPlane) {
			return core.NewMemoryLog(), core.NewMemoryDataPlane()
		}},
		{"redis", func(b *testing.B) (core.Log, core.DataPlane) {
			back := redisBackend(b, redisbroker.Config{URL: redistest.Start(b).URL()})
			return back.log, back.dp
		}},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			b.StopTimer()
			log, dp := be.make(b)
			cfg := core.Config{SnapshotEvery: 1 << 30, ConnTimeout: time.Minute, DataPlane: dp}
			n0 := startBenchNode(b, log, cfg, "node0")
			ctx := context.Background()
			if _, err := n0.ConfigureChannels(ctx, presenceRooms(100)); err != nil {
				b.Fatal(err)
			}
			for i := range b.N {
				visit(b, n0, fmt.Sprint("user", i%500), fmt.Sprint("room", i%100))
			}
			if err := n0.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start, cpu := time.Now(), processCPU(b)
			n1 := startBenchNode(b, log, cfg, "node1")
			if err := n1.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			took, used := time.Since(start), processCPU(b)-cpu
			b.StopTimer()
			entries := n1.Applied()
			b.ReportMetric(float64(took.Microseconds())/float64(entries), "µs/entry")
			b.ReportMetric(float64(used.Microseconds())/float64(entries), "cpu-µs/entry")
			b.ReportMetric(float64(entries)/float64(b.N), "entries/op")
		})
	}
}

// processCPU is the CPU time this process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// visit connects user to channel on h, attaches a transport, detaches it
// and leaves.
func visit(b *testing.B, h *core.Hub, user, channel string) {
	ctx := context.Background()
	res, err := h.Connect(ctx, core.ConnectParams{Username: user, Channels: []string{channel}})
	if err != nil {
		b.Fatal(err)
	}
	s, err := h.Attach(res.ConnID, core.AttachOptions{Transport: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	s.Detach()
	if _, err := s.Leave(ctx); err != nil {
		b.Fatal(err)
	}
}
