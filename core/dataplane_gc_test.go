package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// TestDataPlaneCollectsChannelsWithoutHistory: in data-plane mode empty
// channels are collected on every node and count against max_channels as
// on one hub, their history is deleted, and a channel whose history (in
// the DataPlane) holds a message stays until that message is deleted.
func TestDataPlaneCollectsChannelsWithoutHistory(t *testing.T) {
	eachDataPlane(t, nil, dataPlaneCollectsChannelsWithoutHistory)
}

func dataPlaneCollectsChannelsWithoutHistory(t *testing.T, b dpBackend) {
	log, dp := b.log, b.dp
	rec := newDeletionsDP(dp)
	// A connection is collected ConnTimeout after its connect entry's
	// time unless its hold came through the log by then: under a loaded
	// -race run, 300 ms between a Connect and the hold of the Attach that
	// follows it were seen (the connection then went before the test
	// could use it).
	cfg := core.Config{ConnTimeout: time.Second, GCInterval: 20 * time.Millisecond, MaxChannels: 3, DataPlane: rec}
	nodes := newCluster(t, log, 2, cfg)
	ctx := t.Context()
	alice := connectWith(t, nodes[0].Hub, core.ConnectParams{Username: "alice", Channels: []string{"a", "b", "kept"},
		ChannelConfigs: map[string]core.ChannelConfig{"kept": {StoreHistory: true}}})
	// Attached, so that only the disconnect below ends alice, however
	// long the steps before it take.
	alice.attach(t, core.AttachOptions{Transport: "test"})
	id := core.NewUUID()
	publishHistory(t, dp, "kept", core.HistoryOp{Kind: core.HistoryAppend, ID: id, Limit: 10,
		Fields: map[string]json.RawMessage{"uuid": json.RawMessage(fmt.Sprintf("%q", id))}})
	_, err := nodes[1].Subscribe(ctx, core.SubscribeParams{ConnID: alice.ID, Channels: []string{"c"}})
	wantLimit(t, err, "max_channels", "", 3)
	sameEverywhere(t, nodes)

	if _, err := nodes[1].Disconnect(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	waitChannels(t, nodes, testDeadline, "kept")
	waitUntil(t, testDeadline, "the histories of a and b are deleted", func() bool {
		return slices.Equal(slices.Sorted(slices.Values(rec.deletions())), []string{"a", "b"})
	})
	sameEverywhere(t, nodes)
	// Attached, so that bob stays (and keeps c and d) however long the
	// check of kept takes.
	listen(t, nodes[1].Hub, "bob", "c", "d")

	publishHistory(t, dp, "kept", core.HistoryOp{Kind: core.HistoryDelete, ID: id})
	// It is checked again at most 16 ConnTimeouts (keptRecheckMax) after
	// the last check found a history.
	waitChannels(t, nodes, 16*cfg.ConnTimeout+testDeadline, "c", "d")
	sameEverywhere(t, nodes)
}

// TestDataPlaneCollectWithTheDataPlaneDown: channels whose history cannot
// be read are kept; connections are collected all the same.
func TestDataPlaneCollectWithTheDataPlaneDown(t *testing.T) {
	log, dp := core.NewMemoryLog(), core.NewMemoryDataPlane()
	cfg := core.Config{ConnTimeout: 200 * time.Millisecond, GCInterval: 20 * time.Millisecond, DataPlane: dp}
	nodes := newCluster(t, log, 1, cfg)
	alice := connect(t, nodes[0].Hub, "alice", "a")
	dp.SetDown(true)
	waitUntil(t, testDeadline, "the idle connection is collected", func() bool { return !nodes[0].HasConn(alice.ID) })
	// Once the channel is idle, reading its history fails: it stays.
	errs := nodes[0].Stats().BrokerErrors.Load()
	waitUntil(t, testDeadline, "a failed history read", func() bool { return nodes[0].Stats().BrokerErrors.Load() > errs })
	if got := channelNames(t, nodes[0].Hub); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("channels with the data plane down: %v, want a", got)
	}
	dp.SetDown(false)
	waitUntil(t, testDeadline, "the channel is collected", func() bool { return len(channelNames(t, nodes[0].Hub)) == 0 })
}

// TestDataPlaneAdminTotalsAreTheClusters: in data-plane mode with a stats
// board, admin.json's total_messages and total_unique_messages are the
// sums of every node's counters, the same on every node, and they stay
// counted when a node stops.
func TestDataPlaneAdminTotalsAreTheClusters(t *testing.T) {
	eachDataPlane(t, nil, dataPlaneAdminTotalsAreTheClusters)
}

func dataPlaneAdminTotalsAreTheClusters(t *testing.T, b dpBackend) {
	nodes := newDPCluster(t, b, 2, core.Config{StatsBoard: boardFor(b)})
	ctx := t.Context()
	// Each node delivers to the connection it holds and counts the
	// publishes it takes.
	alice := listen(t, nodes[0].Hub, "alice", "a")
	bob := listen(t, nodes[1].Hub, "bob", "a")
	for i := range 3 {
		if err := nodes[i%2].Publish(ctx, []core.Message{msg("a", fmt.Sprint("m", i))}); err != nil {
			t.Fatal(err)
		}
	}
	alice.waitFor(t, 3, testDeadline)
	bob.waitFor(t, 3, testDeadline)
	want := core.Counters{Messages: 6, UniqueMessages: 3}
	var counted core.Counters
	for _, nd := range nodes {
		counted.Messages += nd.Stats().TotalMessages.Load()
		counted.UniqueMessages += nd.Stats().TotalUniqueMessages.Load()
	}
	if counted != want {
		t.Fatalf("the nodes counted %+v, want %+v", counted, want)
	}
	totals := func(h *core.Hub) core.Counters {
		a := h.Admin(ctx)
		return core.Counters{Messages: a.TotalMessages, UniqueMessages: a.TotalUniqueMessages}
	}
	for i, nd := range nodes {
		waitUntil(t, testDeadline, fmt.Sprintf("node%d shows the cluster's totals %+v", i, want), func() bool {
			return totals(nd.Hub) == want
		})
	}
	nodes[1].stop()
	<-nodes[1].done
	if got := totals(nodes[0].Hub); got != want {
		t.Fatalf("after node1 stopped, node0 shows %+v, want %+v", got, want)
	}
}

// TestDataPlaneAdminTotalsWithoutABoard: without a stats board, admin.json
// shows the node's own counters.
func TestDataPlaneAdminTotalsWithoutABoard(t *testing.T) {
	nodes := newCluster(t, core.NewMemoryLog(), 1, core.Config{DataPlane: core.NewMemoryDataPlane()})
	connect(t, nodes[0].Hub, "alice", "a")
	publish(nodes[0].Hub, msg("a", "hi"))
	a := nodes[0].Admin(context.Background())
	if a.TotalMessages != nodes[0].Stats().TotalMessages.Load() || a.TotalUniqueMessages != 1 {
		t.Fatalf("admin.json totals %d, %d; node's own %d, 1", a.TotalMessages, a.TotalUniqueMessages, nodes[0].Stats().TotalMessages.Load())
	}
}
