package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

func num(s string) json.Number { return json.Number(s) }

func TestConnect(t *testing.T) {
	ctx := context.Background()

	t.Run("new user gets fresh state, a new conn id and sorted channels", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		res, err := h.Connect(ctx, core.ConnectParams{
			Username:        "alice",
			Channels:        []string{"b", "a", "b"},
			FreshUserState:  core.State{"color": "red", "n": num("1")},
			UserState:       core.State{"n": num("2"), "secret": "x"},
			StatePublicKeys: []string{"color", "n"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.ConnID) != 36 {
			t.Errorf("conn_id %q is not a dashed UUID", res.ConnID)
		}
		if want := (core.State{"color": "red", "n": num("2"), "secret": "x"}); !reflect.DeepEqual(res.State, want) {
			t.Errorf("state = %v, want %v", res.State, want)
		}
		if want := (core.State{"color": "red", "n": num("2")}); !reflect.DeepEqual(res.PublicState, want) {
			t.Errorf("public_state = %v, want %v", res.PublicState, want)
		}
		if want := []string{"a", "b", "b"}; !slices.Equal(res.Channels, want) {
			t.Errorf("channels = %v, want %v (sorted, duplicates kept)", res.Channels, want)
		}
		if got := sortedNames(res.ChannelsInfo.Channels); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("channels_info names = %v", got)
		}
		if got := res.ChannelsInfo.Channels["b"].TotalConnections; got != 1 {
			t.Errorf("total_connections of b = %d, want 1 (duplicate name added once)", got)
		}
		if res.Username != "alice" {
			t.Errorf("username = %q", res.Username)
		}
	})

	t.Run("no channels gives empty channels_info", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		res, err := h.Connect(ctx, core.ConnectParams{Username: "alice", Info: core.DefaultInfoOptions()})
		if err != nil {
			t.Fatal(err)
		}
		if res.Channels == nil || len(res.Channels) != 0 {
			t.Errorf("channels = %#v, want []", res.Channels)
		}
		b, _ := json.Marshal(res.ChannelsInfo)
		if string(b) != `{"channels":{},"users":[]}` {
			t.Errorf("channels_info = %s", b)
		}
		if res.State == nil || res.PublicState == nil {
			t.Errorf("state %#v / public_state %#v must be {} not null", res.State, res.PublicState)
		}
	})

	t.Run("reused user keeps state and ignores fresh_user_state", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		connectWith(t, h, core.ConnectParams{Username: "alice", FreshUserState: core.State{"a": num("1"), "b": "x"}})
		res, err := h.Connect(ctx, core.ConnectParams{
			Username:       "alice",
			FreshUserState: core.State{"a": num("100"), "c": true},
			UserState:      core.State{"b": "y", "gone": nil},
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := (core.State{"a": num("1"), "b": "y"}); !reflect.DeepEqual(res.State, want) {
			t.Errorf("state = %v, want %v (fresh ignored, null for an absent key not created)", res.State, want)
		}
	})

	t.Run("reconnect without public keys resets them", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		connectWith(t, h, core.ConnectParams{Username: "alice", UserState: core.State{"k": "v"}, StatePublicKeys: []string{"k"}})
		res, err := h.Connect(ctx, core.ConnectParams{Username: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.PublicState) != 0 {
			t.Errorf("public_state = %v, want {}", res.PublicState)
		}
		if !reflect.DeepEqual(res.State, core.State{"k": "v"}) {
			t.Errorf("state = %v", res.State)
		}
	})

	t.Run("user_state on connect emits no user_state_change", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		notify := map[string]core.ChannelConfig{"s": channelCfg(func(c *core.ChannelConfig) { c.NotifyState = true })}
		bob := listen(t, h, "bob")
		connectWith(t, h, core.ConnectParams{Username: "alice", Channels: []string{"s"}, ChannelConfigs: notify})
		if _, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: bob.ID, Channels: []string{"s"}}); err != nil {
			t.Fatal(err)
		}
		a2 := listen(t, h, "alice", "s")
		connectWith(t, h, core.ConnectParams{Username: "alice", Channels: []string{"s"}, UserState: core.State{"k": "new"}, StatePublicKeys: []string{"k"}})
		bob.expectNothing(t)
		a2.expectNothing(t)
	})

	t.Run("same user reusing its conn id is idempotent", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		first := connect(t, h, "alice", "a")
		sess := first.attach(t, core.AttachOptions{})
		res, err := h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: first.ID, Channels: []string{"a", "b"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.ConnID != first.ID {
			t.Errorf("conn_id = %q, want the reused %q", res.ConnID, first.ID)
		}
		info := h.Info(ctx, core.InfoOptions{IncludeUsers: true})
		for _, name := range []string{"a", "b"} {
			if got := info.Channels[name].TotalConnections; got != 1 {
				t.Errorf("channel %s total_connections = %d, want 1", name, got)
			}
		}
		if isDone(sess) {
			t.Errorf("the attached session ended on reconnect: %v", sess.Reason())
		}
		if got := h.Admin(ctx).TotalConnections; got != 1 {
			t.Errorf("admin total_connections = %d, want 1", got)
		}
	})

	t.Run("another user's conn id fails with ErrConnOwned and changes nothing", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		pres := map[string]core.ChannelConfig{"p": channelCfg(func(c *core.ChannelConfig) { c.NotifyPresence = true })}
		alice := connectWith(t, h, core.ConnectParams{Username: "alice", Channels: []string{"a", "p"}, ChannelConfigs: pres,
			UserState: core.State{"k": "v"}, StatePublicKeys: []string{"k"}})
		alice.attach(t, core.AttachOptions{})
		before := h.Admin(ctx)
		beforeInfo := h.Info(ctx, core.DefaultInfoOptions())

		_, err := h.Connect(ctx, core.ConnectParams{
			Username: "mallory", ConnID: alice.ID, Channels: []string{"a", "new", "p"},
			FreshUserState: core.State{"x": "y"},
		})
		if !errors.Is(err, core.ErrConnOwned) {
			t.Fatalf("err = %v, want ErrConnOwned", err)
		}
		// A retry fails the same way.
		_, err = h.Connect(ctx, core.ConnectParams{Username: "mallory", ConnID: alice.ID})
		if !errors.Is(err, core.ErrConnOwned) {
			t.Fatalf("second try err = %v, want ErrConnOwned", err)
		}
		after := h.Admin(ctx)
		after.Uptime, before.Uptime = "", ""
		if !reflect.DeepEqual(before, after) {
			t.Errorf("admin changed:\nbefore %+v\nafter  %+v", before, after)
		}
		if afterInfo := h.Info(ctx, core.DefaultInfoOptions()); !reflect.DeepEqual(beforeInfo, afterInfo) {
			t.Errorf("info changed:\nbefore %+v\nafter  %+v", beforeInfo, afterInfo)
		}
		if _, err := h.SetUserState(ctx, core.UserStateParams{User: "mallory"}); !errors.Is(err, core.ErrUnknownUser) {
			t.Errorf("mallory was created: SetUserState err = %v", err)
		}
		alice.expectNothing(t)
	})
}

func TestChannelConfigs(t *testing.T) {
	ctx := context.Background()
	custom := channelCfg(func(c *core.ChannelConfig) {
		c.NotifyPresence, c.StoreHistory, c.HistorySize, c.StoreFrames = true, true, 3, false
	})

	tests := []struct {
		name   string
		create func(h *core.Hub, cfgs map[string]core.ChannelConfig) error
	}{
		{"connect applies configs only to channels it creates", func(h *core.Hub, cfgs map[string]core.ChannelConfig) error {
			_, err := h.Connect(ctx, core.ConnectParams{Username: "u", Channels: []string{"c"}, ChannelConfigs: cfgs})
			return err
		}},
		{"subscribe applies configs only to channels it creates", func(h *core.Hub, cfgs map[string]core.ChannelConfig) error {
			res, err := h.Connect(ctx, core.ConnectParams{Username: "u"})
			if err != nil {
				return err
			}
			_, err = h.Subscribe(ctx, core.SubscribeParams{ConnID: res.ConnID, Channels: []string{"c"}, ChannelConfigs: cfgs})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHub(t, core.Config{})
			if err := tc.create(h, map[string]core.ChannelConfig{"c": custom, "unused": custom}); err != nil {
				t.Fatal(err)
			}
			info := h.Info(ctx, core.InfoOptions{})
			if got := info.Channels["c"].Settings; got != custom {
				t.Errorf("new channel settings = %+v, want %+v", got, custom)
			}
			if _, ok := info.Channels["unused"]; ok {
				t.Errorf("a config for a channel not joined created it")
			}
			// A later call with other configs leaves the channel alone.
			other := channelCfg(func(c *core.ChannelConfig) { c.NotifyState = true })
			if err := tc.create(h, map[string]core.ChannelConfig{"c": other}); err != nil {
				t.Fatal(err)
			}
			if got := h.Info(ctx, core.InfoOptions{}).Channels["c"].Settings; got != custom {
				t.Errorf("existing channel settings changed to %+v", got)
			}
		})
	}

	t.Run("a channel without config gets the defaults", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		connect(t, h, "u", "plain")
		got := h.Info(ctx, core.InfoOptions{}).Channels["plain"].Settings
		want := core.ChannelConfig{HistorySize: 10, StoreFrames: true}
		if got != want {
			t.Errorf("settings = %+v, want %+v", got, want)
		}
	})
}

func TestConfigureChannels(t *testing.T) {
	ctx := context.Background()
	h, _ := newHub(t, core.Config{})
	alice := listen(t, h, "alice", "ed")
	h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"ed": channelCfg(func(c *core.ChannelConfig) {
		c.StoreHistory, c.NotifyPresence = true, true
	})})
	publish(h, msg("ed", "kept"))
	alice.takeOne(t)

	t.Run("replaces every key and keeps members and history", func(t *testing.T) {
		// The caller fills omitted keys with defaults: history_size 1 alone
		// resets store_history and notify_presence.
		reset := channelCfg(func(c *core.ChannelConfig) { c.HistorySize = 1 })
		info, _ := h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"ed": reset})
		ch := info.Channels["ed"]
		if ch.Settings != reset {
			t.Errorf("settings = %+v, want %+v", ch.Settings, reset)
		}
		if ch.TotalConnections != 1 || ch.TotalUsers != 1 {
			t.Errorf("total_connections %d / total_users %d, want 1/1", ch.TotalConnections, ch.TotalUsers)
		}
		if len(ch.History) != 0 || len(ch.Users) != 0 || len(info.Users) != 0 {
			t.Errorf("history %v / users %v / top users %v must be left out", ch.History, ch.Users, info.Users)
		}
		if got := h.Info(ctx, core.DefaultInfoOptions()).Channels["ed"].History; len(got) != 1 {
			t.Errorf("stored history lost: %d entries", len(got))
		}
	})

	t.Run("creates missing channels", func(t *testing.T) {
		cfg := channelCfg(func(c *core.ChannelConfig) { c.NotifyState = true })
		info, _ := h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"new1": cfg, "new2": cfg})
		if got := sortedNames(info.Channels); !slices.Equal(got, []string{"new1", "new2"}) {
			t.Errorf("described %v", got)
		}
		if got := h.Info(ctx, core.InfoOptions{}).Channels["new2"].Settings; got != cfg {
			t.Errorf("settings = %+v", got)
		}
	})

	t.Run("empty map describes nothing", func(t *testing.T) {
		info, _ := h.ConfigureChannels(ctx, nil)
		if b, _ := json.Marshal(info); string(b) != `{"channels":{},"users":[]}` {
			t.Errorf("info = %s", b)
		}
	})
	alice.expectNothing(t)
}

func TestSubscribe(t *testing.T) {
	ctx := context.Background()
	h, _ := newHub(t, core.Config{})
	alice := connect(t, h, "alice", "a")

	tests := []struct {
		name       string
		channels   []string
		wantAdded  []string
		wantMember []string
	}{
		{"new channels are subscribed and listed sorted", []string{"c", "b"}, []string{"b", "c"}, []string{"a", "b", "c"}},
		{"channels already joined are left out of subscribed_to", []string{"a", "d", "b"}, []string{"d"}, []string{"a", "b", "c", "d"}},
		{"a repeated name is subscribed once", []string{"e", "e"}, []string{"e"}, []string{"a", "b", "c", "d", "e"}},
		{"nothing new gives an empty subscribed_to", []string{"a"}, []string{}, []string{"a", "b", "c", "d", "e"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: alice.ID, Channels: tc.channels, Info: core.DefaultInfoOptions()})
			if err != nil {
				t.Fatal(err)
			}
			if res.SubscribedTo == nil || !slices.Equal(res.SubscribedTo, tc.wantAdded) {
				t.Errorf("subscribed_to = %#v, want %v", res.SubscribedTo, tc.wantAdded)
			}
			if !slices.Equal(res.Channels, tc.wantMember) {
				t.Errorf("channels = %v, want %v", res.Channels, tc.wantMember)
			}
			if got := sortedNames(res.ChannelsInfo.Channels); !slices.Equal(got, tc.wantMember) {
				t.Errorf("channels_info for %v, want %v", got, tc.wantMember)
			}
		})
	}

	t.Run("unknown conn fails with ErrUnknownConn", func(t *testing.T) {
		_, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: core.NewUUID(), Channels: []string{"zz"}})
		if !errors.Is(err, core.ErrUnknownConn) {
			t.Errorf("err = %v", err)
		}
		if _, ok := h.Info(ctx, core.InfoOptions{}).Channels["zz"]; ok {
			t.Errorf("failed subscribe created the channel")
		}
	})
}

func TestUnsubscribe(t *testing.T) {
	ctx := context.Background()
	h, _ := newHub(t, core.Config{})
	alice := connect(t, h, "alice", "a", "b", "c")

	tests := []struct {
		name        string
		channels    []string
		wantRemoved []string
		wantLeft    []string
	}{
		{"joined channels are left and listed sorted", []string{"c", "a"}, []string{"a", "c"}, []string{"b"}},
		{"unknown and not-joined names are ignored", []string{"nope", "a", "b"}, []string{"b"}, []string{}},
		{"nothing left gives empty lists", []string{"b"}, []string{}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.Unsubscribe(ctx, core.SubscribeParams{ConnID: alice.ID, Channels: tc.channels, Info: core.DefaultInfoOptions()})
			if err != nil {
				t.Fatal(err)
			}
			if res.UnsubscribedFrom == nil || !slices.Equal(res.UnsubscribedFrom, tc.wantRemoved) {
				t.Errorf("unsubscribed_from = %#v, want %v", res.UnsubscribedFrom, tc.wantRemoved)
			}
			if res.Channels == nil || !slices.Equal(res.Channels, tc.wantLeft) {
				t.Errorf("channels = %#v, want %v", res.Channels, tc.wantLeft)
			}
			if got := sortedNames(res.ChannelsInfo.Channels); !slices.Equal(got, tc.wantLeft) {
				t.Errorf("channels_info for %v", got)
			}
		})
	}

	t.Run("unknown conn fails with ErrUnknownConn", func(t *testing.T) {
		_, err := h.Unsubscribe(ctx, core.SubscribeParams{ConnID: core.NewUUID(), Channels: []string{"a"}})
		if !errors.Is(err, core.ErrUnknownConn) {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("channels are never removed", func(t *testing.T) {
		if got := sortedNames(h.Info(ctx, core.InfoOptions{}).Channels); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Errorf("channels = %v", got)
		}
	})
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
