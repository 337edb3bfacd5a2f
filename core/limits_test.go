package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// snapshot is everything a client can learn about the hub, to check that a
// refused request changed nothing.
func snapshot(t *testing.T, h *core.Hub) string {
	t.Helper()
	b, err := json.Marshal(struct {
		Admin core.AdminInfo
		Info  core.ChannelsInfo
		Msgs  int64
	}{h.Admin(context.Background()), h.Info(context.Background(), core.DefaultInfoOptions()), h.Stats().TotalUniqueMessages.Load()})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantLimit checks that err is a *LimitError of limit on field, reachable
// through ErrLimit too.
func wantLimit(t *testing.T, err error, limit, field string, max int) *core.LimitError {
	t.Helper()
	var le *core.LimitError
	if !errors.As(err, &le) || !errors.Is(err, core.ErrLimit) {
		t.Fatalf("err = %v, want a *core.LimitError", err)
	}
	if le.Limit != limit || le.Field != field || le.Max != max || le.Capacity() != (field == "") {
		t.Fatalf("got %+v, want limit %s field %q max %d", le, limit, field, max)
	}
	if !strings.Contains(le.Reason, "max") && !strings.Contains(le.Reason, "larger") {
		t.Fatalf("reason %q says nothing about the limit", le.Reason)
	}
	return le
}

// refused runs do, which must fail with limit on field, and checks that
// the hub is unchanged.
func refused(t *testing.T, h *core.Hub, limit, field string, max int, do func() error) *core.LimitError {
	t.Helper()
	before := snapshot(t, h)
	le := wantLimit(t, do(), limit, field, max)
	if after := snapshot(t, h); after != before {
		t.Fatalf("refused request changed the hub:\nbefore %s\nafter  %s", before, after)
	}
	return le
}

func TestLimitDefaults(t *testing.T) {
	cfg := core.New(core.Config{}).Config()
	if cfg.MaxChannelsPerConn != 1000 || cfg.MaxConnsPerUser != 100 || cfg.MaxConnections != 100_000 || cfg.MaxChannels != 100_000 ||
		cfg.MaxMessageBytes != 65536 || cfg.MaxStateKeys != 100 || cfg.MaxStateValueBytes != 4096 {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestLimitChannelsPerConn(t *testing.T) {
	ctx := context.Background()
	h, _ := newHub(t, core.Config{MaxChannelsPerConn: 2})
	t.Run("connect with too many channels is refused", func(t *testing.T) {
		refused(t, h, "max_channels_per_conn", "channels", 2, func() error {
			_, err := h.Connect(ctx, core.ConnectParams{Username: "alice", Channels: []string{"a", "b", "c"}})
			return err
		})
	})
	c := connect(t, h, "alice", "a", "b", "b", "a") // duplicates count once
	t.Run("subscribe past the limit is refused", func(t *testing.T) {
		refused(t, h, "max_channels_per_conn", "channels", 2, func() error {
			_, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: c.ID, Channels: []string{"a", "c"}})
			return err
		})
	})
	t.Run("reconnect adding a channel is refused", func(t *testing.T) {
		refused(t, h, "max_channels_per_conn", "channels", 2, func() error {
			_, err := h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: c.ID, Channels: []string{"c"}})
			return err
		})
	})
	t.Run("channels already joined are accepted", func(t *testing.T) {
		if _, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: c.ID, Channels: []string{"b", "a"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: c.ID, Channels: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("room made by unsubscribe can be used", func(t *testing.T) {
		if _, err := h.Unsubscribe(ctx, core.SubscribeParams{ConnID: c.ID, Channels: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		res, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: c.ID, Channels: []string{"c"}})
		if err != nil || strings.Join(res.Channels, ",") != "b,c" {
			t.Fatalf("subscribe: %v %v", res.Channels, err)
		}
	})
}

func TestLimitConnsPerUser(t *testing.T) {
	ctx := context.Background()
	h, _ := newHub(t, core.Config{MaxConnsPerUser: 2})
	a1 := connect(t, h, "alice", "news")
	connect(t, h, "alice", "news")
	t.Run("a third connection is refused", func(t *testing.T) {
		refused(t, h, "max_conns_per_user", "", 2, func() error {
			_, err := h.Connect(ctx, core.ConnectParams{Username: "alice", Channels: []string{"news", "other"},
				UserState: core.State{"k": "v"}})
			return err
		})
	})
	t.Run("reconnecting an existing connection is accepted", func(t *testing.T) {
		connectWith(t, h, core.ConnectParams{Username: "alice", ConnID: a1.ID, Channels: []string{"news"}})
	})
	t.Run("another user is accepted", func(t *testing.T) {
		connect(t, h, "bob", "news")
	})
	t.Run("a disconnect makes room", func(t *testing.T) {
		h.Disconnect(ctx, a1.ID)
		connect(t, h, "alice", "news")
	})
}

func TestLimitConnections(t *testing.T) {
	ctx := context.Background()
	h, _ := newHub(t, core.Config{MaxConnections: 2})
	connect(t, h, "alice")
	b := connect(t, h, "bob")
	t.Run("a new connection past the total is refused", func(t *testing.T) {
		refused(t, h, "max_connections", "", 2, func() error {
			_, err := h.Connect(ctx, core.ConnectParams{Username: "carol", Channels: []string{"news"}})
			return err
		})
	})
	t.Run("reconnecting an existing connection is accepted", func(t *testing.T) {
		connectWith(t, h, core.ConnectParams{Username: "bob", ConnID: b.ID, Channels: []string{"news"}})
	})
	t.Run("a disconnect makes room", func(t *testing.T) {
		h.Disconnect(ctx, b.ID)
		connect(t, h, "carol")
	})
}

func TestLimitMessageBytes(t *testing.T) {
	ctx := context.Background()
	const max = 300
	h, _ := newHub(t, core.Config{MaxMessageBytes: max})
	c := listen(t, h, "alice", "news")
	// A message's payload is base bytes plus its text.
	m := msg("news", "")
	b, _ := json.Marshal(map[string]any{"uuid": m.UUID, "channel": "news", "type": "message",
		"user": "sys", "timestamp": "2026-11-25T09:00:00", "message": map[string]string{"text": ""}, "edited": nil})
	base := len(b)
	padded := func(size int) core.Message { return msg("news", strings.Repeat("x", size-base)) }
	t.Run("a batch with one message too large is refused whole", func(t *testing.T) {
		le := refused(t, h, "max_message_bytes", "message", max, func() error {
			return h.Publish(ctx, []core.Message{padded(base + 1), padded(max + 1)})
		})
		if le.Index != 1 {
			t.Fatalf("index = %d, want 1", le.Index)
		}
		c.expectNothing(t)
	})
	t.Run("a message of exactly the limit is delivered", func(t *testing.T) {
		if err := h.Publish(ctx, []core.Message{padded(max)}); err != nil {
			t.Fatal(err)
		}
		if f := c.takeOne(t); len(f.text()) != max-base {
			t.Fatalf("frame %v", f)
		}
	})
	t.Run("other limits have no index", func(t *testing.T) {
		h2, _ := newHub(t, core.Config{MaxConnections: 1})
		connect(t, h2, "a")
		_, err := h2.Connect(ctx, core.ConnectParams{Username: "b"})
		if le := wantLimit(t, err, "max_connections", "", 1); le.Index != -1 {
			t.Fatalf("index = %d", le.Index)
		}
	})
}

func TestLimitStateKeys(t *testing.T) {
	ctx := context.Background()
	h, _ := newHub(t, core.Config{MaxStateKeys: 3})
	t.Run("a new user with too many keys is refused", func(t *testing.T) {
		le := refused(t, h, "max_state_keys", "user_state", 3, func() error {
			_, err := h.Connect(ctx, core.ConnectParams{Username: "alice",
				FreshUserState: core.State{"a": "1", "b": "2"}, UserState: core.State{"b": "3", "c": "4", "d": "5"}})
			return err
		})
		if !strings.Contains(le.Reason, "(max 3)") {
			t.Fatalf("reason %q", le.Reason)
		}
	})
	t.Run("too many fresh keys name fresh_user_state", func(t *testing.T) {
		refused(t, h, "max_state_keys", "fresh_user_state", 3, func() error {
			_, err := h.Connect(ctx, core.ConnectParams{Username: "alice",
				FreshUserState: core.State{"a": "1", "b": "2", "c": "3", "d": "4"}})
			return err
		})
	})
	connectWith(t, h, core.ConnectParams{Username: "alice", FreshUserState: core.State{"a": "1", "b": "2"}})
	t.Run("fresh_user_state of a known user does not count", func(t *testing.T) {
		connectWith(t, h, core.ConnectParams{Username: "alice", FreshUserState: core.State{"x": "1", "y": "2", "z": "3"}})
	})
	t.Run("user_state adding keys past the limit is refused", func(t *testing.T) {
		refused(t, h, "max_state_keys", "user_state", 3, func() error {
			_, err := h.SetUserState(ctx, core.UserStateParams{User: "alice", State: core.State{"a": "9", "c": "3", "d": "4"}})
			return err
		})
	})
	t.Run("changing known keys and nulls for absent keys are accepted", func(t *testing.T) {
		res, err := h.SetUserState(ctx, core.UserStateParams{User: "alice",
			State: core.State{"a": "9", "b": nil, "c": "3", "n1": nil, "n2": nil}})
		if err != nil || len(res.UserState) != 3 {
			t.Fatalf("state %v, err %v", res.UserState, err)
		}
	})
}

func TestLimitStateValueBytes(t *testing.T) {
	ctx := context.Background()
	h, _ := newHub(t, core.Config{MaxStateValueBytes: 8})
	t.Run("a value too large on connect is refused", func(t *testing.T) {
		refused(t, h, "max_state_value_bytes", "user_state", 8, func() error {
			_, err := h.Connect(ctx, core.ConnectParams{Username: "alice", UserState: core.State{"k": "123456789"}})
			return err
		})
	})
	t.Run("a key too large is refused", func(t *testing.T) {
		refused(t, h, "max_state_value_bytes", "fresh_user_state", 8, func() error {
			_, err := h.Connect(ctx, core.ConnectParams{Username: "alice", FreshUserState: core.State{"123456789": true}})
			return err
		})
	})
	connectWith(t, h, core.ConnectParams{Username: "alice", UserState: core.State{"k": "12345678", "n": json.Number("1234567.")}})
	t.Run("a number too long on user_state is refused", func(t *testing.T) {
		refused(t, h, "max_state_value_bytes", "user_state", 8, func() error {
			_, err := h.SetUserState(ctx, core.UserStateParams{User: "alice", State: core.State{"n": json.Number("123456789")}})
			return err
		})
	})
	t.Run("booleans and nulls are small", func(t *testing.T) {
		if _, err := h.SetUserState(ctx, core.UserStateParams{User: "alice", State: core.State{"k": false, "n": nil}}); err != nil {
			t.Fatal(err)
		}
	})
}
