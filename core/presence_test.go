package core_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// presenceHub returns a hub whose channel "p" notifies presence (with user
// lists when lists is true) and whose channel "quiet" does not.
func presenceHub(t *testing.T, lists bool) (*core.Hub, map[string]core.ChannelConfig) {
	t.Helper()
	h, _ := newHub(t, core.Config{})
	cfgs := map[string]core.ChannelConfig{
		"p": channelCfg(func(c *core.ChannelConfig) {
			c.NotifyPresence, c.BroadcastPresenceWithUserLists = true, lists
		}),
	}
	h.ConfigureChannels(context.Background(), cfgs)
	return h, cfgs
}

type presenceUser struct {
	User  string
	State map[string]any
}

func presenceUsers(f frame) []presenceUser {
	list, _ := f["users"].([]any)
	out := []presenceUser{}
	for _, v := range list {
		m := v.(map[string]any)
		st, _ := m["state"].(map[string]any)
		out = append(out, presenceUser{User: m["user"].(string), State: st})
	}
	return out
}

func TestPresence(t *testing.T) {
	ctx := context.Background()

	t.Run("joined goes to the others, not to the joiner, with lists and public state", func(t *testing.T) {
		h, _ := presenceHub(t, true)
		alice := connectWith(t, h, core.ConnectParams{Username: "alice", Channels: []string{"p"},
			UserState: core.State{"color": "red", "secret": "s"}, StatePublicKeys: []string{"color"}})
		alice.attach(t, core.AttachOptions{})
		bob := connectWith(t, h, core.ConnectParams{Username: "bob", Channels: []string{"p"},
			UserState: core.State{"color": "blue", "secret": "t"}, StatePublicKeys: []string{"color"}})
		bob.attach(t, core.AttachOptions{})

		f := alice.takeOne(t)
		if f.typ() != "presence" || f.str("user") != "bob" || f.str("channel") != "p" {
			t.Fatalf("frame = %v", f)
		}
		if got := f.message()["action"]; got != "joined" {
			t.Errorf("action = %v", got)
		}
		if want := map[string]any{"color": "blue"}; !reflect.DeepEqual(f["state"], want) {
			t.Errorf("state = %v, want %v", f["state"], want)
		}
		want := []presenceUser{{"alice", map[string]any{"color": "red"}}, {"bob", map[string]any{"color": "blue"}}}
		if got := presenceUsers(f); !reflect.DeepEqual(got, want) {
			t.Errorf("users = %v, want %v (joiner included, public state only)", got, want)
		}
		if f["catchup"] != false {
			t.Errorf("catchup = %v, want false", f["catchup"])
		}
		if len(f.str("uuid")) != 36 || f.str("timestamp") != "2026-11-25T09:00:00" {
			t.Errorf("uuid %q / timestamp %q", f.str("uuid"), f.str("timestamp"))
		}
		bob.expectNothing(t)
	})

	t.Run("without user lists users is empty", func(t *testing.T) {
		h, _ := presenceHub(t, false)
		alice := listen(t, h, "alice", "p")
		listen(t, h, "bob", "p")
		f := alice.takeOne(t)
		if users, ok := f["users"].([]any); !ok || len(users) != 0 {
			t.Errorf("users = %#v, want []", f["users"])
		}
	})

	t.Run("a second connection of the same user emits nothing", func(t *testing.T) {
		h, _ := presenceHub(t, false)
		alice := listen(t, h, "alice", "p")
		listen(t, h, "bob", "p")
		alice.takeOne(t)
		bob2 := listen(t, h, "bob", "p")
		alice.expectNothing(t)
		// Closing one of the two emits nothing either.
		h.Disconnect(ctx, bob2.ID)
		alice.expectNothing(t)
	})

	t.Run("parted goes out when the last connection leaves, without the leaver", func(t *testing.T) {
		h, _ := presenceHub(t, true)
		alice := listen(t, h, "alice", "p")
		bob := listen(t, h, "bob", "p")
		alice.takeOne(t)
		if _, err := h.Unsubscribe(ctx, core.SubscribeParams{ConnID: bob.ID, Channels: []string{"p"}}); err != nil {
			t.Fatal(err)
		}
		f := alice.takeOne(t)
		if f.typ() != "presence" || f.message()["action"] != "parted" || f.str("user") != "bob" {
			t.Fatalf("frame = %v", f)
		}
		if v, ok := f["state"]; !ok || v != nil {
			t.Errorf("state = %#v, want null", v)
		}
		if got := presenceUsers(f); !reflect.DeepEqual(got, []presenceUser{{"alice", map[string]any{}}}) {
			t.Errorf("users = %v, want only alice", got)
		}
		bob.expectNothing(t)
	})

	t.Run("unsubscribing a conn that is not in the channel emits nothing", func(t *testing.T) {
		h, _ := presenceHub(t, false)
		alice := listen(t, h, "alice", "p")
		bob := listen(t, h, "bob")
		for range 2 {
			res, err := h.Unsubscribe(ctx, core.SubscribeParams{ConnID: bob.ID, Channels: []string{"p"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.UnsubscribedFrom) != 0 {
				t.Errorf("unsubscribed_from = %v", res.UnsubscribedFrom)
			}
		}
		alice.expectNothing(t)
	})

	t.Run("a channel without notify_presence emits nothing", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		alice := listen(t, h, "alice", "quiet")
		bob := listen(t, h, "bob", "quiet")
		h.Disconnect(ctx, bob.ID)
		alice.expectNothing(t)
	})

	t.Run("subscribe emits joined only for newly joined users", func(t *testing.T) {
		h, _ := presenceHub(t, false)
		alice := listen(t, h, "alice", "p")
		bob := listen(t, h, "bob")
		for range 2 {
			if _, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: bob.ID, Channels: []string{"p"}}); err != nil {
				t.Fatal(err)
			}
		}
		if f := alice.takeOne(t); f.message()["action"] != "joined" || f.str("user") != "bob" {
			t.Errorf("frame = %v", f)
		}
	})
}

func TestUserStateChange(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (h *core.Hub, alice, alice2, bob, other *client) {
		t.Helper()
		h, _ = newHub(t, core.Config{})
		h.ConfigureChannels(ctx, map[string]core.ChannelConfig{
			"s1": channelCfg(func(c *core.ChannelConfig) { c.NotifyState = true }),
			"s2": channelCfg(func(c *core.ChannelConfig) { c.NotifyState = true }),
		})
		alice = connectWith(t, h, core.ConnectParams{Username: "alice", Channels: []string{"s1", "quiet"},
			UserState: core.State{"color": "red"}, StatePublicKeys: []string{"color"}})
		alice.attach(t, core.AttachOptions{})
		alice2 = connectWith(t, h, core.ConnectParams{Username: "alice", Channels: []string{"s2"}, StatePublicKeys: []string{"color"}})
		alice2.attach(t, core.AttachOptions{})
		bob = listen(t, h, "bob", "s1", "s2", "quiet")
		other = listen(t, h, "carol", "quiet")
		return h, alice, alice2, bob, other
	}

	t.Run("goes to every conn of every notify_state channel, own conns included", func(t *testing.T) {
		h, alice, alice2, bob, carol := setup(t)
		res, err := h.SetUserState(ctx, core.UserStateParams{User: "alice", State: core.State{"color": "green", "mood": "ok"}})
		if err != nil {
			t.Fatal(err)
		}
		wantChanged := []core.StateChange{{Key: "color", Value: "green"}, {Key: "mood", Value: "ok"}}
		if !reflect.DeepEqual(res.ChangedState, wantChanged) {
			t.Errorf("changed_state = %v, want %v (private keys included)", res.ChangedState, wantChanged)
		}
		if !slices.Equal(res.PublicKeys, []string{"color"}) {
			t.Errorf("public_keys = %v, want kept", res.PublicKeys)
		}

		if f := alice.takeOne(t); f.str("channel") != "s1" {
			t.Errorf("alice got %v", f)
		}
		if f := alice2.takeOne(t); f.str("channel") != "s2" {
			t.Errorf("alice2 got %v", f)
		}
		got := bob.take(t)
		if len(got) != 2 || got[0].str("channel") != "s1" || got[1].str("channel") != "s2" {
			t.Fatalf("bob got %v, want one per notify_state channel", got)
		}
		f := got[0]
		if f.typ() != "user_state_change" || f.str("user") != "alice" || f["catchup"] != false {
			t.Errorf("frame = %v", f)
		}
		if want := map[string]any{"color": "green"}; !reflect.DeepEqual(f.message()["state"], want) {
			t.Errorf("message.state = %v, want %v", f.message()["state"], want)
		}
		wantPublic := []any{map[string]any{"key": "color", "value": "green"}}
		if !reflect.DeepEqual(f.message()["changed"], wantPublic) {
			t.Errorf("message.changed = %v, want %v", f.message()["changed"], wantPublic)
		}
		carol.expectNothing(t)
	})

	t.Run("a private-only change still emits with changed empty", func(t *testing.T) {
		h, alice, _, _, _ := setup(t)
		if _, err := h.SetUserState(ctx, core.UserStateParams{User: "alice", State: core.State{"secret": "1"}}); err != nil {
			t.Fatal(err)
		}
		f := alice.takeOne(t)
		if changed, ok := f.message()["changed"].([]any); !ok || len(changed) != 0 {
			t.Errorf("changed = %#v, want []", f.message()["changed"])
		}
	})

	t.Run("no change emits nothing and answers empty lists", func(t *testing.T) {
		h, alice, _, bob, _ := setup(t)
		res, err := h.SetUserState(ctx, core.UserStateParams{User: "alice", State: core.State{"color": "red", "absent": nil}})
		if err != nil {
			t.Fatal(err)
		}
		if res.ChangedState == nil || len(res.ChangedState) != 0 {
			t.Errorf("changed_state = %#v, want []", res.ChangedState)
		}
		alice.expectNothing(t)
		bob.expectNothing(t)
	})

	t.Run("public keys are replaced only when asked", func(t *testing.T) {
		h, _, _, _, _ := setup(t)
		res, err := h.SetUserState(ctx, core.UserStateParams{User: "alice", SetPublicKeys: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.PublicKeys == nil || len(res.PublicKeys) != 0 {
			t.Errorf("public_keys = %#v, want []", res.PublicKeys)
		}
		info := h.Info(ctx, core.InfoOptions{Channels: []string{"s1"}, IncludeUsers: true, ReturnPublicState: true})
		if st := info.Users[0].State; len(st) != 0 {
			t.Errorf("public state = %v after clearing keys", st)
		}
	})

	t.Run("numbers compare by value", func(t *testing.T) {
		h, alice, _, _, _ := setup(t)
		if _, err := h.SetUserState(ctx, core.UserStateParams{User: "alice", State: core.State{"n": num("1")}}); err != nil {
			t.Fatal(err)
		}
		alice.take(t)
		res, err := h.SetUserState(ctx, core.UserStateParams{User: "alice", State: core.State{"n": num("1.0")}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.ChangedState) != 0 {
			t.Errorf("1 → 1.0 changed %v", res.ChangedState)
		}
	})

	t.Run("unknown user fails with ErrUnknownUser", func(t *testing.T) {
		h, _ := newHub(t, core.Config{})
		if _, err := h.SetUserState(ctx, core.UserStateParams{User: "nobody"}); !errors.Is(err, core.ErrUnknownUser) {
			t.Errorf("err = %v", err)
		}
	})
}
