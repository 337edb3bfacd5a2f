package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// TestSoakFaultsRedis is the soak under faults (make soak) on a cluster
// node: the node keeps its state in a redis-server of the test's own
// (without persistence), so that, besides every fault of TestSoakFaults,
//   - during the main phase Redis goes away for outageFor and comes back
//     empty, once or twice (backendOutage): clients stay attached, /readyz
//     answers 503 and changes are refused with 503 meanwhile, the node
//     resumes by itself and writes its state into the empty Redis, and
//     every message accepted before, between and after is delivered
//     exactly once;
//   - connections survive the node's restart: clients resume the same
//     connection with their last seq, and the exactly-once accounting
//     carries on across it.
//
// Same gate and knobs as TestSoakFaults.
func TestSoakFaultsRedis(t *testing.T) {
	if os.Getenv("CHANNELSTREAM_SOAK") != "1" {
		t.Skip("the fault soak runs with CHANNELSTREAM_SOAK=1 (make soak)")
	}
	srv := redistest.Start(t)
	runFaultSoak(t, soakSettingsFromEnv(t), soakNodeOptions{
		name:             "redis",
		args:             []string{"--redis_url", srv.URL()},
		keepsConnections: true,
		backend:          newSoakRedis(t, srv),
	})
}

// soakRedis is the backend of a cluster node in the soak: a redis-server
// the test started, read through a Log of the test's own.
type soakRedis struct {
	*redistest.Server
	log *redisbroker.Log
}

var _ soakBackend = soakRedis{}

func newSoakRedis(t *testing.T, srv *redistest.Server) soakRedis {
	log, err := redisbroker.New(redisbroker.Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	return soakRedis{Server: srv, log: log}
}

// HasSnapshot implements soakBackend.
func (r soakRedis) HasSnapshot() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	id, _, err := r.log.LoadSnapshot(ctx)
	return err == nil && id != ""
}
