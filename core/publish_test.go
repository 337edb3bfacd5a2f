package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

func TestPublishRouting(t *testing.T) {
	ctx := context.Background()
	with := func(m core.Message, mut func(*core.Message)) core.Message { mut(&m); return m }

	tests := []struct {
		name string
		msg  core.Message
		want []string // users (by conn) that receive it, in conn order below
	}{
		{"channel message reaches every conn in the channel", msg("room", "x"),
			[]string{"alice", "alice", "bob", "carol"}},
		{"pm_users restricts a channel message to those users", with(msg("room", "x"), func(m *core.Message) { m.PMUsers = []string{"bob", "zed"} }),
			[]string{"bob"}},
		{"exclude_users drops those users", with(msg("room", "x"), func(m *core.Message) { m.ExcludeUsers = []string{"alice"} }),
			[]string{"bob", "carol"}},
		{"exclude_users wins over pm_users", with(msg("room", "x"), func(m *core.Message) {
			m.PMUsers, m.ExcludeUsers = []string{"bob", "carol"}, []string{"bob"}
		}), []string{"carol"}},
		{"global PM reaches every conn of the users whatever their channels and ignores exclude_users", with(msg("", "x"), func(m *core.Message) {
			m.PMUsers, m.ExcludeUsers = []string{"alice", "dave", "nobody", "alice"}, []string{"alice"}
		}), []string{"alice", "alice", "dave"}},
		{"a message to an unknown channel is dropped", msg("nowhere", "x"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHub(t, core.Config{})
			clients := []*client{
				listen(t, h, "alice", "room"),
				listen(t, h, "alice", "room", "other"),
				listen(t, h, "bob", "room"),
				listen(t, h, "carol", "room"),
				listen(t, h, "dave", "other"),
			}
			publish(h, tc.msg)
			var got []string
			for _, c := range clients {
				for _, f := range c.take(t) {
					got = append(got, c.User)
					if f.typ() != "message" || f.text() != "x" || f["catchup"] != false {
						t.Errorf("%s got %v", c.User, f)
					}
					if want := any(tc.msg.Channel); tc.msg.Channel == "" && f["channel"] != nil || tc.msg.Channel != "" && f["channel"] != want {
						t.Errorf("channel = %#v, want %q (null for a PM)", f["channel"], tc.msg.Channel)
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("delivered to %v, want %v", got, tc.want)
			}
			stats := h.Stats()
			if got := stats.TotalUniqueMessages.Load(); got != 1 {
				t.Errorf("total_unique_messages = %d, want 1", got)
			}
			if got := stats.TotalMessages.Load(); got != int64(len(tc.want)) {
				t.Errorf("total_messages = %d, want %d deliveries", got, len(tc.want))
			}
			if _, ok := h.Info(ctx, core.InfoOptions{}).Channels["nowhere"]; ok {
				t.Errorf("a message created channel nowhere")
			}
		})
	}
}

func TestMessagePayload(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	alice := listen(t, h, "alice", "room")
	m := msg("room", "hi")
	m.Fields["extra_key"] = json.RawMessage(`5`)
	m.PMUsers = []string{"alice"}
	m.ExcludeUsers = []string{"mallory"}
	publish(h, m)

	f := alice.takeOne(t)
	want := frame{
		"seq": json.Number("1"), "catchup": false, "type": "message", "uuid": m.UUID, "channel": "room",
		"user": "sys", "timestamp": "2026-11-25T09:00:00", "message": map[string]any{"text": "hi"},
		"edited": nil, "extra_key": json.Number("5"),
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("delivered\n %v\nwant\n %v (no pm_users/exclude_users/no_history)", f, want)
	}

	t.Run("client keys named seq or catchup never duplicate the hub's", func(t *testing.T) {
		m := msg("room", "sneaky")
		m.Fields["seq"] = json.RawMessage(`999`)
		m.Fields["catchup"] = json.RawMessage(`"yes"`)
		m.Fields["type"] = json.RawMessage(`"evil"`)
		publish(h, m)
		f := alice.takeOne(t) // takeOne checks for duplicate keys and seq order
		if f.seq() != 2 || f["catchup"] != false || f.typ() != "message" {
			t.Errorf("frame = %v", f)
		}
	})

	t.Run("the hub keeps its own copy of a published message", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		h.ConfigureChannels(context.Background(), map[string]core.ChannelConfig{
			"h": channelCfg(func(c *core.ChannelConfig) { c.StoreHistory = true }),
		})
		bob := connect(t, h, "bob", "h")
		msgs := []core.Message{msg("h", "original")}
		publish(h, msgs...)
		// The caller reuses its buffers for the next request.
		msgs[0].Fields["message"] = json.RawMessage(`{"text":"overwritten"}`)
		msgs[0].PMUsers = append(msgs[0].PMUsers, "x")
		msgs[0].UUID = "reused"
		hist := historyOf(t, h, "h")
		if len(hist) != 1 || hist[0].text() != "original" || len(hist[0]["pm_users"].([]any)) != 0 {
			t.Errorf("history = %v, want the message as published", hist)
		}
		bob.attach(t, core.AttachOptions{})
		if f := bob.takeOne(t); f.text() != "original" {
			t.Errorf("queued copy = %v", f)
		}
	})
}

// historyOf returns channel's history as /info shows it.
func historyOf(t *testing.T, h *core.Hub, channel string) []frame {
	t.Helper()
	info := h.Info(context.Background(), core.InfoOptions{Channels: []string{channel}, IncludeHistory: true})
	var out []frame
	for _, raw := range info.Channels[channel].History {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var f frame
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("history entry %s: %v", raw, err)
		}
		if err := checkNoDuplicateKeys(raw); err != nil {
			t.Fatalf("history entry %s: %v", raw, err)
		}
		out = append(out, f)
	}
	return out
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		maxHistory int
		cfg        func(*core.ChannelConfig)
		send       int
		noHistory  bool
		want       []string
	}{
		{"store_history off keeps nothing", 0, func(c *core.ChannelConfig) { c.StoreHistory = false }, 3, false, nil},
		{"store_history keeps the messages in order", 0, nil, 3, false, []string{"m0", "m1", "m2"}},
		{"no_history messages are not kept", 0, nil, 3, true, nil},
		{"history_size trims to the last entries", 0, func(c *core.ChannelConfig) { c.HistorySize = 2 }, 5, false, []string{"m3", "m4"}},
		{"history_size 0 keeps up to max_history", 4, func(c *core.ChannelConfig) { c.HistorySize = 0 }, 7, false, []string{"m3", "m4", "m5", "m6"}},
		{"history_size above max_history is capped", 3, func(c *core.ChannelConfig) { c.HistorySize = 50 }, 5, false, []string{"m2", "m3", "m4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHub(t, core.Config{MaxHistory: tc.maxHistory})
			cfg := channelCfg(func(c *core.ChannelConfig) {
				c.StoreHistory = true
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"h": cfg})
			for i := range tc.send {
				m := msg("h", fmt.Sprintf("m%d", i))
				m.NoHistory = tc.noHistory
				publish(h, m)
			}
			if got := texts(historyOf(t, h, "h")); !slices.Equal(got, tc.want) {
				t.Errorf("history = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("entries carry the routing keys", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"h": channelCfg(func(c *core.ChannelConfig) { c.StoreHistory = true })})
		m := msg("h", "hi")
		m.PMUsers, m.ExcludeUsers = []string{"a"}, []string{"b"}
		m.Fields["extra"] = json.RawMessage(`[1]`)
		publish(h, m)
		hist := historyOf(t, h, "h")
		if len(hist) != 1 {
			t.Fatalf("history = %v", hist)
		}
		want := frame{
			"uuid": m.UUID, "channel": "h", "type": "message", "catchup": false, "no_history": false,
			"pm_users": []any{"a"}, "exclude_users": []any{"b"}, "user": "sys", "timestamp": "2026-11-25T09:00:00",
			"message": map[string]any{"text": "hi"}, "edited": nil, "extra": []any{json.Number("1")},
		}
		if !reflect.DeepEqual(hist[0], want) {
			t.Errorf("entry\n %v\nwant\n %v", hist[0], want)
		}
	})

	t.Run("presence, state changes, edits and deletes never enter history", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"h": channelCfg(func(c *core.ChannelConfig) {
			c.StoreHistory, c.NotifyPresence, c.NotifyState = true, true, true
		})})
		listen(t, h, "a", "h")
		b := listen(t, h, "b", "h")
		if _, err := h.SetUserState(ctx, core.UserStateParams{User: "b", State: core.State{"k": "v"}}); err != nil {
			t.Fatal(err)
		}
		publish(h, edit("h", core.NewUUID(), `{"text":"e"}`), del("h", core.NewUUID()))
		h.Disconnect(ctx, b.ID)
		if hist := historyOf(t, h, "h"); len(hist) != 0 {
			t.Errorf("history = %v", hist)
		}
	})
}

func edit(channel, uuid, message string) core.Message {
	return core.Message{Kind: core.KindEdit, UUID: uuid, Channel: channel, Fields: map[string]json.RawMessage{
		"message": json.RawMessage(message),
		"edited":  json.RawMessage(`"2026-11-25T10:00:00"`),
	}}
}

func del(channel, uuid string) core.Message {
	return core.Message{Kind: core.KindDelete, UUID: uuid, Channel: channel}
}

func TestEdit(t *testing.T) {
	ctx := context.Background()

	t.Run("updates only the given keys of the history entry", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"h": channelCfg(func(c *core.ChannelConfig) { c.StoreHistory = true })})
		alice := listen(t, h, "alice", "h")
		m := msg("h", "before")
		m.Fields["extra"] = json.RawMessage(`1`)
		publish(h, m)
		alice.take(t)

		e := edit("h", m.UUID, `{"text":"after"}`)
		e.Fields["user"] = json.RawMessage(`"editor"`)
		publish(h, e)

		hist := historyOf(t, h, "h")
		if len(hist) != 1 {
			t.Fatalf("history = %v", hist)
		}
		got := hist[0]
		if got.text() != "after" || got.str("user") != "editor" || got.str("edited") != "2026-11-25T10:00:00" {
			t.Errorf("edited entry = %v", got)
		}
		if got.str("timestamp") != "2026-11-25T09:00:00" || got["extra"] != json.Number("1") || got.typ() != "message" {
			t.Errorf("keys the edit did not carry changed: %v", got)
		}

		f := alice.takeOne(t)
		want := frame{"seq": json.Number("2"), "type": "message:edit", "uuid": m.UUID, "channel": "h",
			"message": map[string]any{"text": "after"}, "user": "editor", "edited": "2026-11-25T10:00:00"}
		if !reflect.DeepEqual(f, want) {
			t.Errorf("live edit\n %v\nwant\n %v (no catchup key)", f, want)
		}
	})

	t.Run("a queued copy not yet delivered shows the edit", func(t *testing.T) {
		h, _ := newHub(t, core.Config{}) // store_frames is on by default
		bob := connect(t, h, "bob", "f")
		m := msg("f", "before")
		publish(h, m, edit("f", m.UUID, `{"text":"after"}`))
		bob.attach(t, core.AttachOptions{})
		got := bob.take(t)
		if len(got) != 2 || got[0].text() != "after" || got[0].typ() != "message" || got[0]["catchup"] != true {
			t.Fatalf("got %v, want the edited message then the edit", got)
		}
		if got[1].typ() != "message:edit" || got[1]["catchup"] != true {
			t.Errorf("replayed edit = %v, want catchup true", got[1])
		}
	})

	t.Run("is broadcast even for an unknown uuid", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		alice := listen(t, h, "alice", "f")
		e := edit("f", core.NewUUID(), `{"text":"?"}`)
		e.ExcludeUsers = []string{"nobody"}
		publish(h, e)
		if f := alice.takeOne(t); f.typ() != "message:edit" || f.str("uuid") != e.UUID {
			t.Errorf("got %v", f)
		}
		if got := h.Stats().TotalUniqueMessages.Load(); got != 0 {
			t.Errorf("an edit counted as a unique message: %d", got)
		}
	})

	t.Run("obeys pm_users and exclude_users", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		alice := listen(t, h, "alice", "f")
		bob := listen(t, h, "bob", "f")
		e := edit("f", core.NewUUID(), `{"text":"?"}`)
		e.PMUsers = []string{"bob"}
		publish(h, e)
		alice.expectNothing(t)
		bob.takeOne(t)
	})

	t.Run("a global PM edit updates the user's queued copy and reaches all the user's conns", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		bob1 := connect(t, h, "bob", "x")
		bob2 := listen(t, h, "bob")
		carol := listen(t, h, "carol")
		m := msg("", "secret")
		m.PMUsers = []string{"bob", "carol"}
		publish(h, m)
		bob2.takeOne(t)
		carol.takeOne(t)
		e := edit("", m.UUID, `{"text":"edited"}`)
		e.PMUsers = []string{"bob"}
		publish(h, e)

		bob1.attach(t, core.AttachOptions{})
		got := bob1.take(t)
		if len(got) != 2 || got[0].text() != "edited" || got[1].typ() != "message:edit" {
			t.Fatalf("bob1 got %v", got)
		}
		if got[1]["channel"] != nil {
			t.Errorf("PM edit channel = %v, want null", got[1]["channel"])
		}
		if f := bob2.takeOne(t); f.typ() != "message:edit" || f["catchup"] != nil {
			t.Errorf("bob2 got %v", f)
		}
		carol.expectNothing(t)
	})
}

func TestDelete(t *testing.T) {
	ctx := context.Background()

	t.Run("removes the message from history and broadcasts", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"h": channelCfg(func(c *core.ChannelConfig) { c.StoreHistory = true })})
		alice := listen(t, h, "alice", "h")
		m1, m2 := msg("h", "one"), msg("h", "two")
		publish(h, m1, m2, del("h", m1.UUID))
		if got := texts(historyOf(t, h, "h")); !slices.Equal(got, []string{"two"}) {
			t.Errorf("history = %v", got)
		}
		got := alice.take(t)
		if !slices.Equal(types(got), []string{"message", "message", "message:delete"}) {
			t.Fatalf("got %v", got)
		}
		want := frame{"seq": json.Number("3"), "type": "message:delete", "uuid": m1.UUID, "channel": "h"}
		if !reflect.DeepEqual(got[2], want) {
			t.Errorf("delete = %v, want %v", got[2], want)
		}
		// An edit after the delete finds nothing to change.
		publish(h, edit("h", m1.UUID, `{"text":"zombie"}`))
		if got := texts(historyOf(t, h, "h")); !slices.Equal(got, []string{"two"}) {
			t.Errorf("history after edit = %v", got)
		}
	})

	t.Run("a global PM delete goes to the user's conns", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		bob := listen(t, h, "bob")
		d := del("", core.NewUUID())
		d.PMUsers = []string{"bob"}
		publish(h, d)
		f := bob.takeOne(t)
		if f.typ() != "message:delete" || f["channel"] != nil || f.str("uuid") != d.UUID {
			t.Errorf("got %v", f)
		}
	})

	t.Run("to an unknown channel delivers nothing", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		alice := listen(t, h, "alice", "h")
		publish(h, del("nope", core.NewUUID()), edit("nope", core.NewUUID(), `{}`))
		alice.expectNothing(t)
		if names := sortedNames(h.Info(ctx, core.InfoOptions{}).Channels); !slices.Equal(names, []string{"h"}) {
			t.Errorf("channels = %v", names)
		}
	})
}

// TestPublishLargeBody checks that a body of any size (within
// MaxMessageBytes) goes through untouched (the seq splice must not depend
// on the body's length).
func TestPublishLargeBody(t *testing.T) {
	h, _ := newHub(t, core.Config{MaxMessageBytes: 1 << 20})
	alice := listen(t, h, "alice", "big")
	text := strings.Repeat("x", 64<<10)
	publish(h, msg("big", text))
	if f := alice.takeOne(t); f.text() != text {
		t.Errorf("body changed: %d bytes", len(f.text()))
	}
}
