package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// startDPHub starts a hub in data-plane mode on log and dp, running until the
// test ends, and waits until it is ready.
func startDPHub(t *testing.T, log Log, dp DataPlane, cfg Config, id string) *Hub {
	t.Helper()
	cfg.Log, cfg.DataPlane, cfg.NodeID = log, dp, id
	h := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.Run(ctx); err != nil {
			t.Errorf("%s Run: %v", id, err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(20 * time.Second)
	for h.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready", id)
		}
		time.Sleep(5 * time.Millisecond) // polling until ready, bounded above
	}
	return h
}

// dpPublish publishes msgs to dp as the publishing node does: each with
// the history effect historyOp gives on h.
func dpPublish(t *testing.T, h *Hub, dp DataPlane, msgs ...Message) {
	t.Helper()
	pubs := make([]Publication, len(msgs))
	h.mu.RLock()
	for i := range msgs {
		m := &msgs[i]
		pubs[i] = Publication{Stream: Stream{Kind: ChannelStream, Name: m.Channel}, Data: m.payload(),
			History: historyOp(h.channels[m.Channel], m, h.cfg.MaxHistory)}
	}
	h.mu.RUnlock()
	if _, err := dp.Publish(t.Context(), pubs); err != nil {
		t.Fatalf("publish to the data plane: %v", err)
	}
}

func histMsg(kind MessageKind, uuid, channel, text string) Message {
	m := Message{Kind: kind, UUID: uuid, Channel: channel, Fields: map[string]json.RawMessage{
		"user": json.RawMessage(`"sys"`), "timestamp": json.RawMessage(`"2026-11-25T09:00:00"`),
		"message": json.RawMessage(fmt.Sprintf(`{"text":%q}`, text)), "edited": json.RawMessage(`null`)}}
	if kind == KindEdit {
		m.Fields["edited"] = json.RawMessage(`"2026-11-25T09:01:00"`)
	}
	return m
}

func historyJSON(t *testing.T, info ChannelsInfo) string {
	t.Helper()
	out := map[string][]json.RawMessage{}
	for name, ci := range info.Channels {
		out[name] = ci.History
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDataPlaneHistoryIsWhatOneHubShows: in data-plane mode, messages
// published through one node (sends beyond history_size,
// no_history, an edit, a delete, a channel that stores none) show in
// /info, connect and subscribe responses and admin.json of another node
// exactly as one hub shows them after Publish.
func TestDataPlaneHistoryIsWhatOneHubShows(t *testing.T) {
	ctx := t.Context()
	configs := map[string]ChannelConfig{
		"a": {StoreHistory: true, HistorySize: 2},
		"b": {StoreHistory: true},
		"n": {StoreHistory: false},
	}
	noHist := histMsg(KindSend, NewUUID(), "b", "not kept")
	noHist.NoHistory = true
	u1, u2, u3, u4 := NewUUID(), NewUUID(), NewUUID(), NewUUID()
	msgs := []Message{
		histMsg(KindSend, u1, "a", "one"), histMsg(KindSend, u2, "a", "two"), histMsg(KindSend, u3, "a", "three"),
		histMsg(KindSend, u4, "b", "four"), noHist, histMsg(KindSend, NewUUID(), "n", "none"),
		histMsg(KindEdit, u3, "a", "three, edited"), histMsg(KindDelete, u2, "a", ""),
		histMsg(KindEdit, u1, "a", "gone already"),
	}

	one := New(Config{})
	if _, err := one.ConfigureChannels(ctx, configs); err != nil {
		t.Fatal(err)
	}
	if err := one.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	opts := DefaultInfoOptions()
	want := historyJSON(t, one.Info(ctx, opts))

	log, dp := NewMemoryLog(), NewMemoryDataPlane()
	n0 := startDPHub(t, log, dp, Config{}, "node0")
	n1 := startDPHub(t, log, dp, Config{}, "node1")
	if _, err := n0.ConfigureChannels(ctx, configs); err != nil {
		t.Fatal(err)
	}
	if err := n0.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	got, err := n1.Describe(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if g := historyJSON(t, got); g != want {
		t.Fatalf("node1's history:\n%s\none hub's:\n%s", g, want)
	}
	if g := historyJSON(t, ChannelsInfo{Channels: n0.Admin(ctx).Channels}); g != want {
		t.Fatalf("node0's admin.json history:\n%s\none hub's:\n%s", g, want)
	}

	res, err := n1.Connect(ctx, ConnectParams{Username: "alice", Channels: []string{"a", "b", "n"}, Info: opts})
	if err != nil {
		t.Fatal(err)
	}
	if g := historyJSON(t, res.ChannelsInfo); g != want {
		t.Fatalf("connect's channels_info history:\n%s\none hub's:\n%s", g, want)
	}
	sub, err := n0.Subscribe(ctx, SubscribeParams{ConnID: res.ConnID, Channels: []string{"a"}, Info: opts})
	if err != nil {
		t.Fatal(err)
	}
	if g := historyJSON(t, sub.ChannelsInfo); g != want {
		t.Fatalf("subscribe's channels_info history:\n%s\none hub's:\n%s", g, want)
	}
	opts.IncludeHistory = false
	if g := historyJSON(t, n1.Info(ctx, opts)); g != `{"a":[],"b":[],"n":[]}` {
		t.Fatalf("info without history: %s", g)
	}
}

// TestDataPlaneHistoryUnreachable: Describe reports a data plane it cannot
// read (ErrUnavailable) and Info shows the channels without history; an
// unsubscribe is applied and answered all the same.
func TestDataPlaneHistoryUnreachable(t *testing.T) {
	ctx := t.Context()
	log, dp := NewMemoryLog(), NewMemoryDataPlane()
	h := startDPHub(t, log, dp, Config{}, "node0")
	if _, err := h.ConfigureChannels(ctx, map[string]ChannelConfig{"a": {StoreHistory: true}}); err != nil {
		t.Fatal(err)
	}
	dpPublish(t, h, dp, histMsg(KindSend, NewUUID(), "a", "kept"))
	conn, err := h.Connect(ctx, ConnectParams{Username: "alice", Channels: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	dp.SetDown(true)
	errs := h.Stats().BrokerErrors.Load()
	if _, err := h.Describe(ctx, DefaultInfoOptions()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Describe with the data plane down: %v, want ErrUnavailable", err)
	}
	if g := historyJSON(t, h.Info(ctx, DefaultInfoOptions())); g != `{"a":[],"b":[]}` {
		t.Fatalf("Info with the data plane down: %s", g)
	}
	res, err := h.Unsubscribe(ctx, SubscribeParams{ConnID: conn.ConnID, Channels: []string{"b"}, Info: DefaultInfoOptions()})
	if err != nil || !slices.Equal(res.UnsubscribedFrom, []string{"b"}) || historyJSON(t, res.ChannelsInfo) != `{"a":[]}` {
		t.Fatalf("unsubscribe with the data plane down: %+v, %v", res, err)
	}
	if got := h.Stats().BrokerErrors.Load() - errs; got < 3 {
		t.Fatalf("BrokerErrors grew by %d, want 3 or more", got)
	}
	dp.SetDown(false)
	if g := historyJSON(t, h.Info(ctx, DefaultInfoOptions())); g == `{"a":[],"b":[]}` {
		t.Fatalf("Info with the data plane back: %s", g)
	}
}

// TestDataPlaneSnapshotCarriesNoFrames: in data-plane mode the snapshot a
// node writes holds users, connections and channels but no frames, queued
// entries, history or message counters, and a node starting later loads it.
func TestDataPlaneSnapshotCarriesNoFrames(t *testing.T) {
	ctx := t.Context()
	log, dp := NewMemoryLog(), NewMemoryDataPlane()
	cfg := Config{SnapshotEvery: 3, GCInterval: 10 * time.Millisecond}
	h := startDPHub(t, log, dp, cfg, "node0")
	if _, err := h.ConfigureChannels(ctx, map[string]ChannelConfig{"a": {StoreHistory: true, StoreFrames: true}}); err != nil {
		t.Fatal(err)
	}
	res, err := h.Connect(ctx, ConnectParams{Username: "alice", Channels: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	// A channel message and a private one: neither leaves a frame in the
	// snapshot.
	if err := h.Publish(ctx, []Message{histMsg(KindSend, NewUUID(), "a", "hi"), {Kind: KindSend, UUID: NewUUID(),
		PMUsers: []string{"alice"}, Fields: map[string]json.RawMessage{"message": json.RawMessage(`"pm"`)}}}); err != nil {
		t.Fatal(err)
	}
	var st snapState
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, data, err := log.LoadSnapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 0 {
			if err := json.Unmarshal(data, &st); err != nil {
				t.Fatal(err)
			}
			if len(st.Conns) == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no snapshot with the connection")
		}
		time.Sleep(10 * time.Millisecond) // polling for the snapshot, bounded above
	}
	if len(st.Frames) != 0 || st.Messages != 0 || st.Unique != 0 {
		t.Fatalf("snapshot frames %d, total_messages %d, total_unique_messages %d; want none", len(st.Frames), st.Messages, st.Unique)
	}
	if c := st.Conns[0]; c.ID != res.ConnID || len(c.Queue) != 0 || len(c.Channels) != 1 {
		t.Fatalf("snapshot conn %+v: want %s in channel a, no queue", c, res.ConnID)
	}
	if len(st.Channels) != 1 || len(st.Channels[0].History) != 0 || len(st.Channels[0].Frames) != 0 ||
		len(st.Users) != 1 || len(st.Users[0].Frames) != 0 {
		t.Fatalf("snapshot channels %+v, users %+v: want a and alice without frames", st.Channels, st.Users)
	}
	later := startDPHub(t, log, dp, cfg, "node1")
	if !later.HasConn(res.ConnID) {
		t.Fatal("the node starting later does not know the connection")
	}
}
