package core_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// BenchmarkDataPlaneInfoHistories measures /info (Hub.Describe with
// history) of 1 000 channels, each with two stored messages, in data-plane
// mode on one redis-server and on the three-master Redis Cluster: the
// histories read with one DataPlane.Histories call ("batched") against
// one DataPlane.History call per channel, eight at a time, as before
// Histories ("per-channel"). redis-reads/op is the number of reads the
// Redis servers made of their clients' sockets per /info, summed over the
// masters: about the round trips (a pipeline longer than Redis's 16 KiB
// read buffer takes more than one).
func BenchmarkDataPlaneInfoHistories(b *testing.B) {
	const channels = 1_000
	backends := []struct {
		name string
		make func(b *testing.B) (redisbroker.Config, []string)
	}{
		{"redis", func(b *testing.B) (redisbroker.Config, []string) {
			srv := redistest.Start(b)
			return redisbroker.Config{URL: srv.URL()}, []string{srv.Addr()}
		}},
		{"cluster", func(b *testing.B) (redisbroker.Config, []string) {
			c := sharedCluster(b)
			return redisbroker.Config{URL: c.URL(), KeyPrefix: clusterPrefix(b)}, c.Addrs()
		}},
	}
	for _, be := range backends {
		for _, batched := range []bool{false, true} {
			name := be.name + "/per-channel"
			if batched {
				name = be.name + "/batched"
			}
			b.Run(name, func(b *testing.B) {
				cfg, addrs := be.make(b)
				back := redisBackend(b, cfg)
				if !batched {
					back.dp = perChannelHistories{back.dp}
				}
				h := newDPCluster(b, back, 1, core.Config{})[0]
				fillChannels(b, h, channels)
				opts := core.InfoOptions{IncludeHistory: true}
				reads := redisReads(b, addrs)
				for b.Loop() {
					info, err := h.Describe(context.Background(), opts)
					if err != nil {
						b.Fatal(err)
					}
					if ci := info.Channels["ch0999"]; len(info.Channels) != channels || len(ci.History) != 2 {
						b.Fatalf("%d channels, the last with %d messages", len(info.Channels), len(ci.History))
					}
				}
				b.ReportMetric(float64(redisReads(b, addrs)-reads)/float64(b.N), "redis-reads/op")
			})
		}
	}
}

// fillChannels makes n channels ch0000… that keep their history and
// publishes two messages to each.
func fillChannels(b *testing.B, h *node, n int) {
	ctx := context.Background()
	cc := core.DefaultChannelConfig()
	cc.StoreHistory, cc.HistorySize = true, 2
	configs := make(map[string]core.ChannelConfig, n)
	var msgs []core.Message
	for i := range n {
		name := fmt.Sprintf("ch%04d", i)
		configs[name] = cc
		msgs = append(msgs, msg(name, "one"), msg(name, "two"))
	}
	if _, err := h.ConfigureChannels(ctx, configs); err != nil {
		b.Fatal(err)
	}
	if err := h.Publish(ctx, msgs); err != nil {
		b.Fatal(err)
	}
}

// perChannelHistories is a DataPlane whose Histories makes one History
// call per channel, eight at a time: how a hub read histories before
// DataPlane.Histories.
type perChannelHistories struct{ core.DataPlane }

func (d perChannelHistories) Histories(ctx context.Context, channels []string) ([][]core.HistoryEntry, error) {
	type result struct {
		i    int
		list []core.HistoryEntry
		err  error
	}
	out := make([][]core.HistoryEntry, len(channels))
	results := make(chan result, len(channels))
	sem := make(chan struct{}, 8)
	for i, ch := range channels {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			list, err := d.History(ctx, ch)
			results <- result{i, list, err}
		}()
	}
	var first error
	for range channels {
		r := <-results
		out[r.i] = r.list
		if first == nil {
			first = r.err
		}
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

// redisReads sums the total_reads_processed of the servers at addrs.
func redisReads(b *testing.B, addrs []string) int64 {
	var sum int64
	for _, a := range addrs {
		out, err := redistest.Command(a, "INFO", "stats")
		if err != nil {
			b.Fatalf("INFO stats on %s: %v", a, err)
		}
		_, rest, ok := strings.Cut(out, "total_reads_processed:")
		n, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]), 10, 64)
		if !ok || err != nil {
			b.Fatalf("INFO stats on %s has no total_reads_processed", a)
		}
		sum += n
	}
	return sum
}
