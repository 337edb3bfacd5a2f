package core_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

func TestInfo(t *testing.T) {
	ctx := context.Background()
	h, clk := newHub(t, core.Config{})
	h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"a": channelCfg(func(c *core.ChannelConfig) { c.StoreHistory = true })})
	connectWith(t, h, core.ConnectParams{Username: "bob", Channels: []string{"a", "b"},
		UserState: core.State{"pub": "1", "priv": "2"}, StatePublicKeys: []string{"pub"}})
	connect(t, h, "alice", "a")
	connect(t, h, "alice", "a")
	connect(t, h, "carol", "c")
	clk.Add(1500 * time.Millisecond)
	publish(h, msg("a", "hello"))

	users := func(info core.ChannelsInfo) []string {
		var out []string
		for _, u := range info.Users {
			out = append(out, u.User)
		}
		return out
	}

	t.Run("defaults describe every channel with history, users and full state", func(t *testing.T) {
		info := h.Info(ctx, core.DefaultInfoOptions())
		if got := sortedNames(info.Channels); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("channels = %v", got)
		}
		a := info.Channels["a"]
		if !slices.Equal(a.Users, []string{"alice", "bob"}) || a.TotalUsers != 2 || a.TotalConnections != 3 {
			t.Errorf("a: users %v total_users %d total_connections %d", a.Users, a.TotalUsers, a.TotalConnections)
		}
		if len(a.History) != 1 || a.Name != "a" || len(a.UUID) != 36 || a.LongName != nil {
			t.Errorf("a = %+v", a)
		}
		if a.LastActive != "2026-11-25T09:00:01.500000" {
			t.Errorf("last_active = %q, want the last message's time", a.LastActive)
		}
		if b := info.Channels["b"]; b.LastActive != "2026-11-25T09:00:00" {
			t.Errorf("b last_active = %q", b.LastActive)
		}
		if got := users(info); !slices.Equal(got, []string{"alice", "bob", "carol"}) {
			t.Errorf("users = %v", got)
		}
		if st := info.Users[1].State; !reflect.DeepEqual(st, core.State{"pub": "1", "priv": "2"}) {
			t.Errorf("bob state = %v, want full", st)
		}
	})

	t.Run("channels lists only known channels", func(t *testing.T) {
		info := h.Info(ctx, core.InfoOptions{Channels: []string{"b", "nope", "b"}, IncludeUsers: true})
		if got := sortedNames(info.Channels); !slices.Equal(got, []string{"b"}) {
			t.Errorf("channels = %v", got)
		}
		if got := users(info); !slices.Equal(got, []string{"bob"}) {
			t.Errorf("users = %v", got)
		}
	})

	t.Run("empty channel list describes nothing", func(t *testing.T) {
		info := h.Info(ctx, core.InfoOptions{Channels: []string{}, IncludeUsers: true})
		if b, _ := json.Marshal(info); string(b) != `{"channels":{},"users":[]}` {
			t.Errorf("info = %s", b)
		}
	})

	t.Run("include_history false leaves history empty", func(t *testing.T) {
		info := h.Info(ctx, core.InfoOptions{IncludeUsers: true})
		if hist := info.Channels["a"].History; hist == nil || len(hist) != 0 {
			t.Errorf("history = %#v, want []", hist)
		}
	})

	t.Run("include_users false keeps the true total_users", func(t *testing.T) {
		info := h.Info(ctx, core.InfoOptions{IncludeHistory: true})
		a := info.Channels["a"]
		if a.Users == nil || len(a.Users) != 0 || info.Users == nil || len(info.Users) != 0 {
			t.Errorf("users %#v / top users %#v, want []", a.Users, info.Users)
		}
		if a.TotalUsers != 2 || a.TotalConnections != 3 {
			t.Errorf("total_users %d total_connections %d, want 2 and 3", a.TotalUsers, a.TotalConnections)
		}
	})

	t.Run("exclude_channels removes channels", func(t *testing.T) {
		opts := core.DefaultInfoOptions()
		opts.ExcludeChannels = []string{"a", "c"}
		info := h.Info(ctx, opts)
		if got := sortedNames(info.Channels); !slices.Equal(got, []string{"b"}) {
			t.Errorf("channels = %v", got)
		}
		if got := users(info); !slices.Equal(got, []string{"bob"}) {
			t.Errorf("users = %v", got)
		}
	})

	t.Run("return_public_state shows only public keys", func(t *testing.T) {
		opts := core.DefaultInfoOptions()
		opts.Channels, opts.ReturnPublicState = []string{"b"}, true
		info := h.Info(ctx, opts)
		if st := info.Users[0].State; !reflect.DeepEqual(st, core.State{"pub": "1"}) {
			t.Errorf("state = %v", st)
		}
	})

	t.Run("JSON has upstream's keys", func(t *testing.T) {
		b, _ := json.Marshal(h.Info(ctx, core.InfoOptions{Channels: []string{"b"}}).Channels["b"])
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		want := []string{"history", "last_active", "long_name", "name", "settings", "total_connections", "total_users", "users", "uuid"}
		if got := sortedNames(m); !slices.Equal(got, want) {
			t.Errorf("keys = %v, want %v", got, want)
		}
		settings := sortedNames(m["settings"].(map[string]any))
		wantSettings := []string{"broadcast_presence_with_user_lists", "history_size", "notify_presence", "notify_state", "store_frames", "store_history"}
		if !slices.Equal(settings, wantSettings) {
			t.Errorf("settings keys = %v", settings)
		}
	})
}

func TestAdmin(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		elapsed time.Duration
		want    string
	}{
		{"uptime under a day", 2*time.Minute + 56*time.Second + 900*time.Millisecond, "0:02:56"},
		{"uptime of one day", 26*time.Hour + 3*time.Minute + 4*time.Second, "1 day, 2:03:04"},
		{"uptime of days", 50*time.Hour + 10*time.Second, "2 days, 2:00:10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, clk := newHub(t, core.Config{})
			clk.Add(tc.elapsed)
			if got := h.Admin(ctx).Uptime; got != tc.want {
				t.Errorf("uptime = %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("counts users, connections, channels and messages", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		a1 := connectWith(t, h, core.ConnectParams{Username: "alice", Channels: []string{"x"},
			UserState: core.State{"pub": "1", "priv": "2"}, StatePublicKeys: []string{"pub"}})
		a2 := connectWith(t, h, core.ConnectParams{Username: "alice", Channels: []string{"y"}, StatePublicKeys: []string{"pub"}})
		connect(t, h, "bob", "x")
		gone := connect(t, h, "carol")
		h.Disconnect(ctx, gone.ID)
		publish(h, msg("x", "1"), msg("nowhere", "2"))

		got := h.Admin(ctx)
		if got.RememberedUserCount != 3 || got.UniqueUserCount != 2 || got.TotalConnections != 3 || got.TotalChannels != 2 {
			t.Errorf("remembered %d unique %d conns %d channels %d, want 3 2 3 2",
				got.RememberedUserCount, got.UniqueUserCount, got.TotalConnections, got.TotalChannels)
		}
		if got.TotalMessages != 2 || got.TotalUniqueMessages != 2 {
			t.Errorf("total_messages %d total_unique_messages %d, want 2 2", got.TotalMessages, got.TotalUniqueMessages)
		}
		if len(got.Users) != 2 || got.Users[0].User != "alice" || got.Users[1].User != "bob" {
			t.Fatalf("users = %+v", got.Users)
		}
		alice := got.Users[0]
		if want := []string{a1.ID, a2.ID}; !slices.Equal(alice.Connections, slices.Sorted(slices.Values(want))) {
			t.Errorf("alice connections = %v, want %v", alice.Connections, want)
		}
		if !reflect.DeepEqual(alice.State, core.State{"pub": "1"}) || len(alice.UUID) != 36 {
			t.Errorf("alice = %+v, want public state and a uuid", alice)
		}
		if x := got.Channels["x"]; !slices.Equal(x.Users, []string{"alice", "bob"}) || len(x.History) != 0 {
			t.Errorf("channel x = %+v", x)
		}
	})

	t.Run("presence and state changes are not counted as messages", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"p": channelCfg(func(c *core.ChannelConfig) {
			c.NotifyPresence, c.NotifyState = true, true
		})})
		watcher := listen(t, h, "watcher", "p")
		other := listen(t, h, "other", "p")
		if _, err := h.SetUserState(ctx, core.UserStateParams{User: "other", State: core.State{"k": "v"}}); err != nil {
			t.Fatal(err)
		}
		h.Disconnect(ctx, other.ID)
		if got := len(watcher.take(t)); got != 3 {
			t.Fatalf("watcher got %d frames, want joined, state change, parted", got)
		}
		if a := h.Admin(ctx); a.TotalMessages != 0 || a.TotalUniqueMessages != 0 {
			t.Errorf("total_messages %d total_unique_messages %d, want 0 0", a.TotalMessages, a.TotalUniqueMessages)
		}
	})
}
