package httpapi

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestPresence(t *testing.T) {
	cfg := `{"p": {"notify_presence": true, "broadcast_presence_with_user_lists": true}, "q": {"notify_presence": true}}`
	setup := func(t *testing.T) *apiT {
		a := newAPI(t, nil)
		a.ok("POST", "/channel_config", cfg)
		return a
	}
	t.Run("first join reaches others, not the joiner (36, 38)", func(t *testing.T) {
		a := setup(t)
		ra := a.attach(a.connect("wa", "p"))
		a.ok("POST", "/connect", `{"username": "wb", "channels": ["p"], "user_state": {"color": "blue", "secret": 1}, "state_public_keys": ["color"]}`)
		f := ra.wait(1)[0]
		if f["type"] != "presence" || f["user"] != "wb" || f["channel"] != "p" || f["catchup"] != false {
			t.Fatalf("presence %v", f)
		}
		msg, _ := json.Marshal(f["message"])
		jsonEq(t, msg, `{"action": "joined"}`)
		st, _ := json.Marshal(f["state"])
		jsonEq(t, st, `{"color": "blue"}`)
		users, _ := json.Marshal(f["users"])
		jsonEq(t, users, `[{"user": "wa", "state": {}}, {"user": "wb", "state": {"color": "blue"}}]`)
	})
	t.Run("the joiner gets no presence of its own", func(t *testing.T) {
		a := setup(t)
		rb := a.attach(a.connect("wb", "p"))
		a.connect("wc", "p")
		frames := rb.wait(1)
		for _, f := range frames {
			if f["user"] == "wb" {
				t.Fatalf("own presence delivered: %v", f)
			}
		}
	})
	t.Run("second connection of a user emits nothing (37)", func(t *testing.T) {
		a := setup(t)
		ra := a.attach(a.connect("wa", "q"))
		a.connect("wb", "q")
		a.connect("wb", "q")
		a.call("POST", "/message", `{"user": "s", "channel": "q"}`)
		if got := ra.wait(2); !slices.Equal(ra.types(), []string{"presence", "message"}) {
			t.Fatalf("frames %v", got)
		}
	})
	t.Run("without user lists, users is [] (39)", func(t *testing.T) {
		a := setup(t)
		ra := a.attach(a.connect("wa", "q"))
		a.connect("wb", "q")
		f := ra.wait(1)[0]
		if u := f["users"].([]any); len(u) != 0 {
			t.Fatalf("users %v", u)
		}
	})
	t.Run("last leave sends parted with null state, without the leaver (40)", func(t *testing.T) {
		a := setup(t)
		ra := a.attach(a.connect("wa", "p"))
		idb := a.connect("wb", "p")
		ra.wait(1)
		a.ok("POST", "/unsubscribe", `{"conn_id": "`+idb+`", "channels": ["p"]}`)
		f := ra.wait(2)[1]
		msg, _ := json.Marshal(f["message"])
		jsonEq(t, msg, `{"action": "parted"}`)
		users, _ := json.Marshal(f["users"])
		if f["state"] != nil {
			t.Fatalf("state %v", f["state"])
		}
		jsonEq(t, users, `[{"user": "wa", "state": {}}]`)
	})
	t.Run("unsubscribing a connection that was not in the channel emits nothing (41, fix 8)", func(t *testing.T) {
		a := setup(t)
		ra := a.attach(a.connect("wa", "q"))
		idb := a.connect("wb")
		a.ok("POST", "/unsubscribe", `{"conn_id": "`+idb+`", "channels": ["q"]}`)
		a.call("POST", "/message", `{"user": "s", "channel": "q"}`)
		ra.wait(1)
		if types := ra.types(); !slices.Equal(types, []string{"message"}) {
			t.Fatalf("frames %v", types)
		}
	})
}

func TestSubscribe(t *testing.T) {
	a := newAPI(t, nil)
	id := a.connect("u", "b")
	t.Run("conn_id from the query string (42)", func(t *testing.T) {
		code, b := a.call("POST", "/subscribe?conn_id="+id, `{"channels": ["a"]}`)
		status(t, code, 200, b)
	})
	t.Run("unknown conn and empty channels reported together (43)", func(t *testing.T) {
		code, b := a.call("POST", "/subscribe", `{"conn_id": "12345678-1234-5678-1234-567812345678", "channels": []}`)
		status(t, code, 422, b)
		jsonEq(t, b, `{"conn_id": ["Unknown connection"], "channels": ["Shorter than minimum length 1."]}`)
		code, b = a.call("POST", "/subscribe", `{"conn_id": "12345678-1234-5678-1234-567812345678", "channels": ["x"]}`)
		status(t, code, 422, b)
		jsonEq(t, b, `{"conn_id": ["Unknown connection"]}`)
		code, b = a.call("POST", "/subscribe", `{"channels": ["x"]}`)
		status(t, code, 422, b)
	})
	t.Run("result lists all channels and only new ones (44, 45)", func(t *testing.T) {
		v := a.ok("POST", "/subscribe", `{"conn_id": "`+id+`", "channels": ["c", "aB", "a"]}`)
		ch, _ := json.Marshal(v["channels"])
		jsonEq(t, ch, `["a", "aB", "b", "c"]`)
		sub, _ := json.Marshal(v["subscribed_to"])
		jsonEq(t, sub, `["aB", "c"]`)
		if n := len(v["channels_info"].(map[string]any)["channels"].(map[string]any)); n != 4 {
			t.Fatalf("channels_info has %d channels", n)
		}
	})
	t.Run("unsubscribe reports what was left, ignores unknown names (46)", func(t *testing.T) {
		v := a.ok("POST", "/unsubscribe", `{"conn_id": "`+id+`", "channels": ["c", "nope", "aB"]}`)
		ch, _ := json.Marshal(v["channels"])
		jsonEq(t, ch, `["a", "b"]`)
		un, _ := json.Marshal(v["unsubscribed_from"])
		jsonEq(t, un, `["aB", "c"]`)
	})
	t.Run("unsubscribing from the last channel (47)", func(t *testing.T) {
		v := a.ok("POST", "/unsubscribe", `{"conn_id": "`+id+`", "channels": ["a", "b"]}`)
		ci, _ := json.Marshal(v["channels_info"])
		jsonEq(t, ci, `{"channels": {}, "users": []}`)
	})
}

func TestUserState(t *testing.T) {
	a := newAPI(t, nil)
	a.ok("POST", "/channel_config", `{"s": {"notify_state": true}, "n": {}}`)
	own := a.attach(a.connect("u", "s", "n"))
	other := a.attach(a.connect("o", "s"))
	t.Run("unknown user (48)", func(t *testing.T) {
		code, b := a.call("POST", "/user_state", `{"user": "ghost", "user_state": {"a": 1}}`)
		status(t, code, 422, b)
		jsonEq(t, b, `{"user": ["Unknown user"]}`)
	})
	t.Run("unknown user and invalid state value reported together", func(t *testing.T) {
		code, b := a.call("POST", "/user_state", `{"user": "ghost", "user_state": {"a": [1]}}`)
		status(t, code, 422, b)
		jsonEq(t, b, `{"user": ["Unknown user"], "user_state": {"a": {"value": ["Value is not type of string, integer, boolean or float."]}}}`)
		code, b = a.call("POST", "/user_state", `{"user": "u", "user_state": {"a": [1]}}`)
		status(t, code, 422, b)
		jsonEq(t, b, `{"user_state": {"a": {"value": ["Value is not type of string, integer, boolean or float."]}}}`)
	})
	t.Run("missing user", func(t *testing.T) {
		code, b := a.call("POST", "/user_state", `{}`)
		status(t, code, 422, b)
		jsonEq(t, b, `{"user": ["Missing data for required field."]}`)
	})
	t.Run("result and change event to everyone incl. own conns (49, 51)", func(t *testing.T) {
		code, b := a.call("POST", "/user_state", `{"user": "u", "user_state": {"a": 1, "priv": "x"}, "state_public_keys": ["a"]}`)
		status(t, code, 200, b)
		jsonEq(t, b, `{"user_state": {"a": 1, "priv": "x"}, "changed_state": [{"key": "a", "value": 1}, {"key": "priv", "value": "x"}], "public_keys": ["a"]}`)
		for _, r := range []*reader{own, other} {
			f := r.wait(1)[len(r.frames)-1]
			if f["type"] != "user_state_change" || f["channel"] != "s" || f["user"] != "u" {
				t.Fatalf("frame %v", f)
			}
			m, _ := json.Marshal(f["message"])
			jsonEq(t, m, `{"state": {"a": 1}, "changed": [{"key": "a", "value": 1}]}`)
		}
		if n := len(own.frames); n != 1 {
			t.Fatalf("own conn got %d frames, want 1 (only channel s notifies)", n)
		}
	})
	t.Run("public keys kept when omitted, cleared by [] (50)", func(t *testing.T) {
		v := a.ok("POST", "/user_state", `{"user": "u", "user_state": {}}`)
		pk, _ := json.Marshal(v["public_keys"])
		jsonEq(t, pk, `["a"]`)
		v = a.ok("POST", "/user_state", `{"user": "u", "state_public_keys": []}`)
		pk, _ = json.Marshal(v["public_keys"])
		jsonEq(t, pk, `[]`)
	})
	t.Run("private-only change still emits with changed [] (52)", func(t *testing.T) {
		n := len(other.frames)
		a.ok("POST", "/user_state", `{"user": "u", "user_state": {"priv": "y"}}`)
		f := other.wait(n + 1)[n]
		m, _ := json.Marshal(f["message"])
		jsonEq(t, m, `{"state": {}, "changed": []}`)
	})
	t.Run("connect's user_state emits nothing (53)", func(t *testing.T) {
		n := len(other.frames)
		a.ok("POST", "/connect", `{"username": "u", "user_state": {"a": 99}}`)
		a.call("POST", "/message", `{"user": "s", "channel": "s"}`)
		if types := other.wait(n + 1)[n:]; types[0]["type"] != "message" {
			t.Fatalf("frames after connect %v", types)
		}
	})
}
