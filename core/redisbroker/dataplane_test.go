package redisbroker_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// newDataPlaneAt returns a DataPlane at url under the test's own key prefix,
// closed at cleanup.
func newDataPlaneAt(t testing.TB, url string, o coretest.DataPlaneOptions) *redisbroker.DataPlane {
	t.Helper()
	cfg := fastConfig
	cfg.URL, cfg.KeyPrefix = url, prefixFor(t)
	cfg.StreamMaxLen, cfg.StreamMaxAge = o.MaxLen, o.MaxAge
	cfg.BlockTimeout = time.Second
	d, err := redisbroker.NewDataPlane(cfg)
	if err != nil {
		t.Fatalf("NewDataPlane: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// dataPlaneSuite is the conformance suite on the Redis at url, whose
// masters are addrs.
func dataPlaneSuite(url string, addrs []string) coretest.DataPlaneSuite {
	return coretest.DataPlaneSuite{
		New: func(t *testing.T, o coretest.DataPlaneOptions) core.DataPlane {
			return newDataPlaneAt(t, url, o)
		},
		Disconnect: func(t *testing.T, _ core.DataPlane) {
			for _, a := range addrs {
				if _, err := redistest.Command(a, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
					t.Fatalf("CLIENT KILL on %s: %v", a, err)
				}
			}
		},
		Reset: func(t *testing.T, _ core.DataPlane) {
			for _, a := range addrs {
				deleteKeys(t, a, prefixFor(t)+"*")
			}
		},
	}
}

// deleteKeys deletes the keys of the server at addr that match pattern.
func deleteKeys(t *testing.T, addr, pattern string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	keys, err := c.Keys(ctx, pattern).Result()
	if err != nil {
		t.Fatalf("KEYS %s on %s: %v", pattern, addr, err)
	}
	for _, k := range keys {
		if err := c.Del(ctx, k).Err(); err != nil {
			t.Fatalf("DEL %s on %s: %v", k, addr, err)
		}
	}
}

func TestDataPlaneConformance(t *testing.T) {
	srv := redistest.Start(t)
	dataPlaneSuite(srv.URL(), []string{srv.Addr()}).Run(t)
}

func TestDataPlaneConformanceOnCluster(t *testing.T) {
	c := sharedCluster(t)
	dataPlaneSuite(c.URL(), c.Addrs()).Run(t)
}

// TestDataPlaneConformanceOnTheLogsClient runs the suite on DataPlanes
// that share a Log's client (Log.DataPlane), as a node builds them.
func TestDataPlaneConformanceOnTheLogsClient(t *testing.T) {
	srv := redistest.Start(t)
	suite := dataPlaneSuite(srv.URL(), []string{srv.Addr()})
	suite.New = func(t *testing.T, o coretest.DataPlaneOptions) core.DataPlane {
		cfg := fastConfig
		cfg.URL = srv.URL()
		cfg.StreamMaxLen, cfg.StreamMaxAge = o.MaxLen, o.MaxAge
		cfg.BlockTimeout = time.Second
		l := newLogAt(t, cfg)
		d := l.DataPlane()
		t.Cleanup(func() { _ = d.Close() })
		return d
	}
	suite.Run(t)
}
