package redisbroker_test

import (
	"errors"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// twoBoards returns the stats boards of two Logs on url with one key
// prefix of the test's own: two nodes of one cluster.
func twoBoards(t *testing.T, url string) (core.StatsBoard, core.StatsBoard) {
	cfg := fastConfig
	cfg.URL, cfg.KeyPrefix = url, prefixFor(t)
	return newLogAt(t, cfg).StatsBoard(), newLogAt(t, cfg).StatsBoard()
}

func TestStatsBoardConformance(t *testing.T) {
	srv := redistest.Start(t)
	coretest.TestStatsBoard(t, func(t *testing.T) (core.StatsBoard, core.StatsBoard) { return twoBoards(t, srv.URL()) })
}

func TestStatsBoardConformanceOnCluster(t *testing.T) {
	c := sharedCluster(t)
	coretest.TestStatsBoard(t, func(t *testing.T) (core.StatsBoard, core.StatsBoard) { return twoBoards(t, c.URL()) })
}

// TestStatsBoardKeysAndOutage: the board keeps its totals in one hash
// under the Log's hash tag, and a Redis away is ErrUnavailable.
func TestStatsBoardKeysAndOutage(t *testing.T) {
	srv := redistest.Start(t)
	b := newLog(t, srv, redisbroker.Config{}).StatsBoard()
	ctx := ctxFor(t)
	if err := b.Post(ctx, "node0:x", core.Counters{Messages: 4, UniqueMessages: 2}); err != nil {
		t.Fatal(err)
	}
	got, err := rawClient(t, srv).HGetAll(ctx, prefixFor(t)+"{ctl}:stats").Result()
	if err != nil || got["m"] != "4" || got["u"] != "2" || got["n:node0:x"] != "4 2" {
		t.Fatalf("stats hash %v, %v", got, err)
	}
	if n, err := rawClient(t, srv).ZCard(ctx, prefixFor(t)+"{ctl}:stats:ids").Result(); err != nil || n != 1 {
		t.Fatalf("ids %d, %v; want 1", n, err)
	}
	srv.Stop()
	if err := b.Post(ctx, "node0:x", core.Counters{Messages: 5}); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Post with Redis away: %v, want ErrUnavailable", err)
	}
	if _, err := b.Totals(ctx); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Totals with Redis away: %v, want ErrUnavailable", err)
	}
}
