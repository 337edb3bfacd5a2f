package core_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// channelNames lists the hub's channels, sorted.
func channelNames(t *testing.T, h *core.Hub) []string {
	t.Helper()
	var names []string
	for name := range h.Admin(context.Background()).Channels {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// waitChannels waits until every node, caught up with the log, holds
// exactly the channels want.
func waitChannels(t *testing.T, nodes []*node, within time.Duration, want ...string) {
	t.Helper()
	for i, nd := range nodes {
		waitUntil(t, within, fmt.Sprintf("node%d holds the channels %v", i, want), func() bool {
			return nd.Sync(t.Context()) == nil && slices.Equal(channelNames(t, nd.Hub), want)
		})
	}
}

func TestCollectChannels(t *testing.T) {
	ctx := context.Background()
	const timeout = 15 * time.Second
	history := map[string]core.ChannelConfig{"kept": channelCfg(func(c *core.ChannelConfig) { c.StoreHistory = true })}

	t.Run("an empty channel without history goes conn_timeout after its last connection left", func(t *testing.T) {
		h, clk := newHub(t, core.Config{ConnTimeout: timeout})
		alice := listen(t, h, "alice", "room", "other")
		clk.Add(time.Hour) // the channel's age does not count, only since it was left
		alice.sess.Touch()
		if _, err := h.Unsubscribe(ctx, core.SubscribeParams{ConnID: alice.ID, Channels: []string{"room"}}); err != nil {
			t.Fatal(err)
		}
		clk.Add(timeout)
		alice.sess.Touch()
		h.Collect()
		if got := channelNames(t, h); !slices.Equal(got, []string{"other", "room"}) {
			t.Fatalf("channels %v at exactly conn_timeout, want both", got)
		}
		clk.Add(time.Millisecond)
		alice.sess.Touch()
		h.Collect()
		if got := channelNames(t, h); !slices.Equal(got, []string{"other"}) {
			t.Fatalf("channels %v, want [other]: room was empty for longer than conn_timeout", got)
		}
		if n := h.Stats().CollectedChannels.Load(); n != 1 {
			t.Errorf("CollectedChannels = %d, want 1", n)
		}
		// Joining it again makes it anew.
		if _, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: alice.ID, Channels: []string{"room"}}); err != nil {
			t.Fatal(err)
		}
		if got := channelNames(t, h); !slices.Equal(got, []string{"other", "room"}) {
			t.Fatalf("channels %v after joining again", got)
		}
	})

	t.Run("channels of a collected connection go one conn_timeout later", func(t *testing.T) {
		h, clk := newHub(t, core.Config{ConnTimeout: timeout})
		connect(t, h, "alice", "room")
		clk.Add(timeout + time.Millisecond)
		if n := h.Collect(); n != 1 {
			t.Fatalf("collected %d connections, want 1", n)
		}
		if got := channelNames(t, h); !slices.Equal(got, []string{"room"}) {
			t.Fatalf("channels %v right after the connection went, want [room]", got)
		}
		clk.Add(timeout + time.Millisecond)
		h.Collect()
		if got := channelNames(t, h); len(got) != 0 {
			t.Fatalf("channels %v, want none", got)
		}
	})

	t.Run("a channel with history stays", func(t *testing.T) {
		h, clk := newHub(t, core.Config{ConnTimeout: timeout})
		h.ConfigureChannels(ctx, history)
		alice := connect(t, h, "alice", "kept")
		publish(h, msg("kept", "hello"))
		if _, err := h.Disconnect(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		clk.Add(10 * timeout)
		h.Collect()
		if got := channelNames(t, h); !slices.Equal(got, []string{"kept"}) {
			t.Fatalf("channels %v, want [kept]: it has history", got)
		}
	})

	t.Run("a channel with a connection stays", func(t *testing.T) {
		h, clk := newHub(t, core.Config{ConnTimeout: timeout})
		alice := listen(t, h, "alice", "room")
		for range 3 {
			clk.Add(timeout)
			alice.sess.Touch()
			h.Collect()
		}
		if got := channelNames(t, h); !slices.Equal(got, []string{"room"}) {
			t.Fatalf("channels %v, want [room]", got)
		}
	})

	t.Run("a configured channel nobody joins goes after conn_timeout; a message or a config renews it", func(t *testing.T) {
		h, clk := newHub(t, core.Config{ConnTimeout: timeout})
		h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"cfg": core.DefaultChannelConfig()})
		clk.Add(timeout)
		publish(h, msg("cfg", "to nobody"))
		clk.Add(timeout)
		h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"cfg": core.DefaultChannelConfig()})
		clk.Add(timeout)
		h.Collect()
		if got := channelNames(t, h); !slices.Equal(got, []string{"cfg"}) {
			t.Fatalf("channels %v, want [cfg]", got)
		}
		clk.Add(time.Millisecond)
		h.Collect()
		if got := channelNames(t, h); len(got) != 0 {
			t.Fatalf("channels %v, want none", got)
		}
	})
}

func TestMaxChannels(t *testing.T) {
	ctx := context.Background()
	const max = 3
	h, clk := newHub(t, core.Config{MaxChannels: max, ConnTimeout: time.Second})
	alice := connect(t, h, "alice", "a", "b")

	refused(t, h, "max_channels", "", max, func() error {
		_, err := h.Connect(ctx, core.ConnectParams{Username: "bob", Channels: []string{"a", "c", "d"}})
		return err
	})
	refused(t, h, "max_channels", "", max, func() error {
		_, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: alice.ID, Channels: []string{"c", "d"}})
		return err
	})
	refused(t, h, "max_channels", "", max, func() error {
		_, err := h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"c": {}, "d": {}})
		return err
	})
	// Existing channels and duplicates need no room.
	if _, err := h.Connect(ctx, core.ConnectParams{Username: "bob", Channels: []string{"a", "b", "c", "c"}}); err != nil {
		t.Fatalf("connect into existing channels and one new: %v", err)
	}
	refused(t, h, "max_channels", "", max, func() error {
		_, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: alice.ID, Channels: []string{"d"}})
		return err
	})
	// Collected channels make room again.
	clk.Add(2 * time.Second)
	h.Collect()
	clk.Add(2 * time.Second)
	h.Collect()
	if got := channelNames(t, h); len(got) != 0 {
		t.Fatalf("channels %v after collection, want none", got)
	}
	for i := range max {
		if _, err := h.ConfigureChannels(ctx, map[string]core.ChannelConfig{fmt.Sprint("n", i): {}}); err != nil {
			t.Fatalf("channel %d after collection: %v", i, err)
		}
	}
}

func TestClusterCollectsEmptyChannelsAndCountsMaxChannels(t *testing.T) {
	eachLog(t, func(t *testing.T, log testLog) {
		cfg := core.Config{ConnTimeout: 300 * time.Millisecond, GCInterval: 20 * time.Millisecond, MaxChannels: 2}
		nodes := newCluster(t, log, 2, cfg)
		ctx := t.Context()
		alice := connect(t, nodes[0].Hub, "alice", "a", "b")
		_, err := nodes[1].Subscribe(ctx, core.SubscribeParams{ConnID: alice.ID, Channels: []string{"c"}})
		wantLimit(t, err, "max_channels", "", 2)
		sameEverywhere(t, nodes)

		if _, err := nodes[1].Disconnect(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		waitChannels(t, nodes, testDeadline)
		sameEverywhere(t, nodes)
		connect(t, nodes[1].Hub, "bob", "c", "d")
		sameEverywhere(t, nodes)
	})
}
