package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// dpBackend is a Log and a DataPlane under test.
type dpBackend struct {
	log core.Log
	dp  core.DataPlane
}

// eachDataPlane runs test in data-plane mode on a MemoryLog with a
// MemoryDataPlane (mem may set its fields first), on one redis-server and
// on the package's three-master Redis Cluster (Log and DataPlane on the
// same Redis).
func eachDataPlane(t *testing.T, mem func(*core.MemoryDataPlane), test func(t *testing.T, b dpBackend)) {
	t.Run("memory", func(t *testing.T) {
		dp := core.NewMemoryDataPlane()
		if mem != nil {
			mem(dp)
		}
		test(t, dpBackend{log: core.NewMemoryLog(), dp: dp})
	})
	onRedis := func(t *testing.T, cfg redisbroker.Config) {
		cfg.MaxBackoff = 100 * time.Millisecond
		if mem != nil {
			probe := &core.MemoryDataPlane{}
			mem(probe)
			cfg.StreamMaxLen = probe.MaxLen
		}
		test(t, redisBackend(t, cfg))
	}
	t.Run("redis", func(t *testing.T) {
		onRedis(t, redisbroker.Config{URL: redistest.Start(t).URL()})
	})
	t.Run("cluster", func(t *testing.T) {
		onRedis(t, redisbroker.Config{URL: sharedCluster(t).URL(), KeyPrefix: clusterPrefix(t)})
	})
}

// redisBackend is a redisbroker Log and DataPlane of cfg, closed at
// cleanup.
func redisBackend(t testing.TB, cfg redisbroker.Config) dpBackend {
	t.Helper()
	l, err := redisbroker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	dp, err := redisbroker.NewDataPlane(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })
	return dpBackend{log: l, dp: dp}
}

// newDPCluster starts n data-plane hubs on b.
func newDPCluster(t testing.TB, b dpBackend, n int, cfg core.Config) []*node {
	t.Helper()
	cfg.DataPlane = b.dp
	return newCluster(t, b.log, n, cfg)
}

func TestDataPlaneRoutesOnlyToTheHolder(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		nodes, clients := routeAcrossNodes(t, testLog{Log: b.log, dp: b.dp})
		for _, i := range []int{0, 2} {
			if n, r, q := nodes[i].DPStreams(), nodes[i].DPReceived(), nodes[i].QueuedFrames(); n != 0 || r != 0 || q != 0 {
				t.Errorf("node%d holds nothing but follows %d streams, received %d entries, queues %d frames", i, n, r, q)
			}
		}
		if n := nodes[1].DPStreams(); n != 3 { // room, u:alice, u:bob
			t.Errorf("node1 follows %d streams, want 3", n)
		}
		for _, c := range clients {
			c.expectNothing(t)
		}
	})
}

func TestDataPlaneDeliversEachMessageOnce(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		nodes := newDPCluster(t, b, 2, core.Config{})
		ctx := t.Context()
		subs := make([]*client, 3)
		for i := range subs {
			subs[i] = connect(t, nodes[0].Hub, fmt.Sprint("user", i), "c")
			subs[i].hub = nodes[1].Hub
			subs[i].attach(t, core.AttachOptions{Transport: "test"})
		}
		const n = 50
		for i := range n {
			if err := nodes[0].Publish(ctx, []core.Message{msg("c", fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
		pm := msg("", "private")
		pm.PMUsers = []string{"user1"}
		if err := nodes[0].Publish(ctx, []core.Message{pm}); err != nil {
			t.Fatal(err)
		}
		for i, c := range subs {
			want := n
			if i == 1 {
				want++
			}
			got := c.waitFor(t, want, testDeadline)
			// Streams are not ordered with each other: the private
			// message may come anywhere among the channel's.
			j := 0
			for _, f := range got {
				if f.channel() == "" && i == 1 && f.text() == "private" {
					continue
				}
				if f.text() != fmt.Sprint(j) {
					t.Fatalf("%s: frame %v, want text %d", c.User, f, j)
				}
				j++
			}
			if j != n {
				t.Fatalf("%s got %d channel messages, want %d", c.User, j, n)
			}
			c.expectNothing(t)
		}
		if got, want := nodes[1].Stats().TotalMessages.Load(), int64(3*n+1); got != want {
			t.Errorf("node1 counted %d deliveries, want %d", got, want)
		}
		if got := nodes[0].Stats().TotalUniqueMessages.Load(); got != n+1 {
			t.Errorf("node0 counted %d unique messages, want %d", got, n+1)
		}
	})
}

func TestDataPlanePresenceIsPerUserAcrossNodes(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		clusterPresenceIsPerUserAcrossNodes(t, testLog{Log: b.log, dp: b.dp})
	})
}

func (f frame) channel() string { return f.str("channel") }

// The cluster tests that hold in data-plane mode as they are (the others
// compare per-node counters or history, which data-plane mode keeps
// elsewhere; clusterCollectsTheConnectionsOfADeadNode, with its 300 ms
// conn_timeout, lost its live watcher under load: leases through Redis).

func TestDataPlaneAttachElsewhereReplaces(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		clusterAttachElsewhereReplaces(t, testLog{Log: b.log, dp: b.dp})
	})
}

func TestDataPlaneAttachRightAfterConnectElsewhereSucceeds(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		clusterAttachRightAfterConnectElsewhereSucceeds(t, testLog{Log: b.log, dp: b.dp})
	})
}

// A node that only applies a change does not build its presence frames,
// yet makes the same ids as the origin for what comes after them in the
// entry: here channel "b", made after alice's presence frame in "a".
func TestDataPlaneBystandersMakeTheSameIDs(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		nodes := newDPCluster(t, b, 2, core.Config{})
		ctx := t.Context()
		if _, err := nodes[0].ConfigureChannels(ctx, map[string]core.ChannelConfig{
			"a": channelCfg(func(c *core.ChannelConfig) { c.NotifyPresence = true }),
		}); err != nil {
			t.Fatal(err)
		}
		bob := listen(t, nodes[1].Hub, "bob", "a")
		connect(t, nodes[0].Hub, "alice", "a", "b")
		got := bob.waitFor(t, 1, testDeadline)
		if got[0].typ() != "presence" || got[0].str("user") != "alice" || got[0].str("uuid") == "" {
			t.Fatalf("bob got %v, want alice's presence", got)
		}
		if err := nodes[1].Sync(ctx); err != nil {
			t.Fatal(err)
		}
		opts := core.DefaultInfoOptions()
		var uuids []string
		for _, n := range nodes {
			uuids = append(uuids, n.Info(ctx, opts).Channels["b"].UUID)
		}
		if uuids[0] == "" || uuids[0] != uuids[1] {
			t.Fatalf("channel b's uuid on node0 %q, node1 %q", uuids[0], uuids[1])
		}
	})
}
