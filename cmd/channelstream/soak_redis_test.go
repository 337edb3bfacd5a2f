package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// TestSoakFaultsRedis is the soak under faults (make soak) on a cluster
// of SOAK_NODES nodes (default 2) with the data plane (redis_data_plane;
// SOAK_DATA_PLANE=0: the replicated log alone): the nodes keep their
// state in a redis-server of the test's own (without persistence), so
// that, besides every fault of TestSoakFaults,
//   - clients and API calls are spread over the nodes, and during the
//     main phase one node is killed (SIGKILL): its clients resume their
//     connections on the other node with their resume position (the
//     node's resume cursor: cursor= on /ws and /listen, Last-Event-ID on
//     /sse), and nothing is lost or delivered twice across the move
//     (soak_nodes_test.go);
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
// Same gate and knobs as TestSoakFaults, and SOAK_NODES (1 to 4; with
// 1, no node is killed) and SOAK_DATA_PLANE.
func TestSoakFaultsRedis(t *testing.T) {
	if os.Getenv("CHANNELSTREAM_SOAK") != "1" {
		t.Skip("the fault soak runs with CHANNELSTREAM_SOAK=1 (make soak)")
	}
	nodes := 2
	if v := os.Getenv("SOAK_NODES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 4 {
			t.Fatalf("SOAK_NODES=%q: want 1 to 4", v)
		}
		nodes = n
	}
	args, mode, dataPlane := []string{"--redis_data_plane"}, "data plane", true
	if os.Getenv("SOAK_DATA_PLANE") == "0" {
		args, mode, dataPlane = nil, "replicated log", false
	}
	srv := redistest.Start(t)
	runFaultSoak(t, soakSettingsFromEnv(t), soakNodeOptions{
		name:             fmt.Sprintf("redis (%s, %d nodes)", mode, nodes),
		args:             append(args, "--redis_url", srv.URL()),
		keepsConnections: true,
		backend:          newSoakRedis(t, srv),
		nodes:            nodes,
		dataPlane:        dataPlane,
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
