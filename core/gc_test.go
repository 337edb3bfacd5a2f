package core_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

func TestCollect(t *testing.T) {
	ctx := context.Background()
	const timeout = 15 * time.Second
	presence := map[string]core.ChannelConfig{"p": channelCfg(func(c *core.ChannelConfig) { c.NotifyPresence = true })}

	tests := []struct {
		name     string
		channels []string
	}{
		{"an idle conn in a channel is removed", []string{"p"}},
		{"an idle conn in no channel is removed", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, clk := newHub(t, core.Config{ConnTimeout: timeout})
			h.ConfigureChannels(ctx, presence)
			watcher := listen(t, h, "watcher", "p")
			idle := connect(t, h, "idle", tc.channels...)
			sess := idle.attach(t, core.AttachOptions{})
			if len(tc.channels) > 0 {
				watcher.takeOne(t) // idle joined
			}

			clk.Add(timeout)
			watcher.sess.Touch()
			if n := h.Collect(); n != 0 {
				t.Fatalf("collected %d conns at exactly the timeout", n)
			}
			clk.Add(time.Millisecond)
			watcher.sess.Touch()
			if n := h.Collect(); n != 1 {
				t.Fatalf("collected %d conns, want 1", n)
			}
			if !isDone(sess) || sess.Reason() != core.DisconnectGone {
				t.Errorf("session not ended with DisconnectGone (done %v)", isDone(sess))
			}
			if _, err := h.Attach(idle.ID, core.AttachOptions{}); !errors.Is(err, core.ErrUnknownConn) {
				t.Errorf("Attach after collection: %v", err)
			}
			if _, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: idle.ID, Channels: []string{"p"}}); !errors.Is(err, core.ErrUnknownConn) {
				t.Errorf("Subscribe after collection: %v", err)
			}
			if len(tc.channels) > 0 {
				if f := watcher.takeOne(t); f.message()["action"] != "parted" || f.str("user") != "idle" {
					t.Errorf("watcher got %v, want parted", f)
				}
			}
			if got := h.Stats().CollectedConns.Load(); got != 1 {
				t.Errorf("CollectedConns = %d", got)
			}
			if got := h.Admin(ctx).TotalConnections; got != 1 {
				t.Errorf("total_connections = %d, want the watcher only", got)
			}
		})
	}

	t.Run("activity keeps a conn", func(t *testing.T) {
		h, clk := newHub(t, core.Config{ConnTimeout: timeout})
		c := listen(t, h, "u", "p")
		for range 5 {
			clk.Add(10 * time.Second)
			c.sess.Touch()
			if n := h.Collect(); n != 0 {
				t.Fatalf("collected an active conn")
			}
		}
		clk.Add(10 * time.Second)
		c.sess.Detach() // detaching counts as activity too
		clk.Add(10 * time.Second)
		if n := h.Collect(); n != 0 {
			t.Fatalf("collected a conn 10 s after its transport left")
		}
		clk.Add(6 * time.Second)
		if n := h.Collect(); n != 1 {
			t.Fatalf("collected %d, want 1", n)
		}
	})

	t.Run("users without conns are forgotten after UserTimeout, users with conns are kept", func(t *testing.T) {
		h, clk := newHub(t, core.Config{ConnTimeout: timeout, UserTimeout: time.Hour})
		keeper := listen(t, h, "keeper")
		leaver := connect(t, h, "leaver")
		h.Disconnect(ctx, leaver.ID)
		for range 4 {
			clk.Add(20 * time.Minute)
			keeper.sess.Touch()
			h.Collect()
		}
		if _, err := h.SetUserState(ctx, core.UserStateParams{User: "leaver"}); !errors.Is(err, core.ErrUnknownUser) {
			t.Errorf("leaver still known: %v", err)
		}
		if _, err := h.SetUserState(ctx, core.UserStateParams{User: "keeper"}); err != nil {
			t.Errorf("keeper forgotten while connected: %v", err)
		}
		if got := h.Admin(ctx).RememberedUserCount; got != 1 {
			t.Errorf("remembered_user_count = %d", got)
		}
	})

	t.Run("a user is remembered for UserTimeout after the last conn goes", func(t *testing.T) {
		h, clk := newHub(t, core.Config{ConnTimeout: timeout, UserTimeout: time.Hour})
		connectWith(t, h, core.ConnectParams{Username: "u", FreshUserState: core.State{"k": "v"}})
		clk.Add(timeout + time.Second)
		if h.Collect() != 1 {
			t.Fatal("conn not collected")
		}
		clk.Add(30 * time.Minute)
		h.Collect()
		res, err := h.Connect(ctx, core.ConnectParams{Username: "u", FreshUserState: core.State{"k": "fresh"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.State["k"] != "v" {
			t.Errorf("state = %v, want the remembered one", res.State)
		}
	})
}

// TestRun drives the collector through Hub.Run on synctest's fake clock.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := core.New(core.Config{GCInterval: time.Second, ConnTimeout: 15 * time.Second, UserTimeout: time.Minute})
		h.ConfigureChannels(t.Context(), map[string]core.ChannelConfig{
			"p": channelCfg(func(c *core.ChannelConfig) { c.NotifyPresence = true }),
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})

		alive := listen(t, h, "alive", "p")
		idle := listen(t, h, "idle", "p")
		alive.takeOne(t) // idle joined

		// alive's transport writes a heartbeat every 5 s; idle's is silent.
		for range 3 {
			time.Sleep(5 * time.Second)
			alive.sess.Touch()
		}
		synctest.Wait()
		if isDone(idle.sess) {
			t.Fatal("idle collected within its timeout")
		}
		time.Sleep(1500 * time.Millisecond) // the next collector tick after 15 s
		synctest.Wait()
		if !isDone(idle.sess) || idle.sess.Reason() != core.DisconnectGone {
			t.Fatal("idle not collected one tick after its timeout")
		}
		if f := alive.takeOne(t); f.message()["action"] != "parted" || f.str("user") != "idle" {
			t.Errorf("alive got %v", f)
		}
		if got := h.Admin(t.Context()).RememberedUserCount; got != 2 {
			t.Errorf("remembered_user_count = %d right after", got)
		}

		// A silent minute: alive stops heartbeating and is collected at
		// 31 s; the user idle (conn gone at 16 s) is forgotten at 77 s,
		// the user alive (conn gone at 31 s) is still remembered.
		time.Sleep(62 * time.Second)
		synctest.Wait()
		if !isDone(alive.sess) {
			t.Fatal("alive not collected after a silent minute")
		}
		admin := h.Admin(t.Context())
		if admin.RememberedUserCount != 1 || admin.TotalConnections != 0 {
			t.Errorf("remembered_user_count %d total_connections %d, want 1 and 0", admin.RememberedUserCount, admin.TotalConnections)
		}
		if _, err := h.SetUserState(t.Context(), core.UserStateParams{User: "alive"}); err != nil {
			t.Errorf("alive forgotten 47 s after its conn went: %v", err)
		}
	})
}

func TestDisconnect(t *testing.T) {
	ctx := context.Background()
	h, _ := newHub(t, core.Config{})
	h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"p": channelCfg(func(c *core.ChannelConfig) { c.NotifyPresence = true })})
	watcher := listen(t, h, "watcher", "p")
	gone := listen(t, h, "gone", "p", "q")
	watcher.takeOne(t)

	t.Run("a known conn is removed at once with parted and DisconnectGone", func(t *testing.T) {
		if ok, _ := h.Disconnect(ctx, gone.ID); !ok {
			t.Fatal("Disconnect reported an unknown conn")
		}
		if !isDone(gone.sess) || gone.sess.Reason() != core.DisconnectGone {
			t.Errorf("session not ended with DisconnectGone")
		}
		if f := watcher.takeOne(t); f.message()["action"] != "parted" {
			t.Errorf("watcher got %v", f)
		}
		if got := h.Info(ctx, core.InfoOptions{}).Channels["q"].TotalConnections; got != 0 {
			t.Errorf("q total_connections = %d", got)
		}
		publish(h, msg("p", "after"))
		if raw, _ := gone.takeRaw(t, 0); raw != nil {
			t.Errorf("removed conn got %s", raw)
		}
	})

	t.Run("an unknown conn reports false", func(t *testing.T) {
		again, _ := h.Disconnect(ctx, gone.ID)
		unknown, _ := h.Disconnect(ctx, core.NewUUID())
		if again || unknown {
			t.Error("Disconnect reported a known conn")
		}
	})
}

func TestCollectSeveralConnsOfOneUser(t *testing.T) {
	h, clk := newHub(t, core.Config{})
	h.ConfigureChannels(context.Background(), map[string]core.ChannelConfig{
		"p": channelCfg(func(c *core.ChannelConfig) { c.NotifyPresence = true }),
	})
	watcher := listen(t, h, "watcher", "p")
	connect(t, h, "u", "p")
	connect(t, h, "u", "p")
	connect(t, h, "u", "p", "q")
	watcher.takeOne(t) // u joined once
	clk.Add(time.Minute)
	watcher.sess.Touch()
	if n := h.Collect(); n != 3 {
		t.Fatalf("collected %d, want all 3 in one pass", n)
	}
	if f := watcher.takeOne(t); f.message()["action"] != "parted" || f.str("user") != "u" {
		t.Errorf("got %v, want one parted", f)
	}
	info := h.Info(context.Background(), core.InfoOptions{})
	if info.Channels["p"].TotalConnections != 1 || info.Channels["q"].TotalConnections != 0 {
		t.Errorf("p has %d conns, q %d", info.Channels["p"].TotalConnections, info.Channels["q"].TotalConnections)
	}
}
