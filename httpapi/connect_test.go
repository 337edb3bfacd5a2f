package httpapi

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestConnectValidation(t *testing.T) {
	a := newAPI(t, nil)
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"malformed JSON is 400 (17, fix 1)", `{"username":`, 400, ""},
		{"missing username (18)", `{}`, 422, `{"username": ["Missing data for required field."]}`},
		{"empty username (19)", `{"username": ""}`, 422, `{"username": ["Length must be between 1 and 512."]}`},
		{"number username (20)", `{"username": 5}`, 422, `{"username": ["Not a valid string."]}`},
		{"list state value (21)", `{"username": "a", "user_state": {"k": [1]}}`, 422,
			`{"user_state": {"k": {"value": ["Value is not type of string, integer, boolean or float."]}}}`},
		{"object state value (21)", `{"username": "a", "user_state": {"k": {"x": 1}}}`, 422,
			`{"user_state": {"k": {"value": ["Value is not type of string, integer, boolean or float."]}}}`},
		{"bad conn_id", `{"username": "a", "conn_id": "nope"}`, 422, `{"conn_id": ["Not a valid UUID."]}`},
		{"channels not a list", `{"username": "a", "channels": "x"}`, 422, `{"channels": ["Not a valid list."]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := a.call("POST", "/connect", tc.body)
			status(t, code, tc.code, b)
			if tc.want != "" {
				jsonEq(t, b, tc.want)
			} else {
				var e struct{ Error string }
				if json.Unmarshal(b, &e) != nil || e.Error == "" {
					t.Fatalf("want a JSON error, got %s", b)
				}
			}
		})
	}
	if info := a.hub.Admin(t.Context()); info.RememberedUserCount != 0 || info.TotalChannels != 0 {
		t.Fatalf("rejected requests changed the hub: %+v", info)
	}
}

func TestConnect(t *testing.T) {
	t.Run("minimal connect (22)", func(t *testing.T) {
		a := newAPI(t, nil)
		code, b := a.call("POST", "/connect", `{"username": "alice"}`)
		status(t, code, 200, b)
		var v map[string]any
		_ = json.Unmarshal(b, &v)
		if !uuidRE.MatchString(v["conn_id"].(string)) {
			t.Fatalf("conn_id %v", v["conn_id"])
		}
		delete(v, "conn_id")
		got, _ := json.Marshal(v)
		jsonEq(t, got, `{"state": {}, "public_state": {}, "username": "alice", "channels": [], "channels_info": {"channels": {}, "users": []}}`)
	})
	t.Run("client conn_id is kept, any UUID form (23)", func(t *testing.T) {
		a := newAPI(t, nil)
		v := a.ok("POST", "/connect", `{"username": "a", "conn_id": "{12345678-1234-5678-1234-567812345678}"}`)
		if v["conn_id"] != "12345678-1234-5678-1234-567812345678" {
			t.Fatalf("conn_id %v", v["conn_id"])
		}
	})
	t.Run("channels sorted, default settings, info fields (24, 25, 35)", func(t *testing.T) {
		a := newAPI(t, nil)
		v := a.ok("POST", "/connect", `{"username": "a", "channels": ["b", "a"]}`)
		b, _ := json.Marshal(v["channels"])
		jsonEq(t, b, `["a", "b"]`)
		ch := v["channels_info"].(map[string]any)["channels"].(map[string]any)["a"].(map[string]any)
		keys := []string{}
		for k := range ch {
			keys = append(keys, k)
		}
		if len(keys) != 9 {
			t.Fatalf("channel info keys %v", keys)
		}
		settings, _ := json.Marshal(ch["settings"])
		jsonEq(t, settings, `{"notify_presence": false, "store_history": false, "history_size": 10,
			"broadcast_presence_with_user_lists": false, "notify_state": false, "store_frames": true}`)
		if ch["long_name"] != nil || ch["total_connections"].(float64) != 1 || ch["total_users"].(float64) != 1 {
			t.Fatalf("channel info %v", ch)
		}
		users, _ := json.Marshal(v["channels_info"].(map[string]any)["users"])
		jsonEq(t, users, `[{"user": "a", "state": {}}]`)
	})
	t.Run("channel_configs only apply to created channels (26)", func(t *testing.T) {
		a := newAPI(t, nil)
		a.ok("POST", "/connect", `{"username": "a", "channels": ["x"], "channel_configs": {"x": {"store_history": true}}}`)
		v := a.ok("POST", "/connect", `{"username": "b", "channels": ["x"], "channel_configs": {"x": {"notify_presence": true}}}`)
		s := v["channels_info"].(map[string]any)["channels"].(map[string]any)["x"].(map[string]any)["settings"].(map[string]any)
		if s["store_history"] != true || s["notify_presence"] != false {
			t.Fatalf("settings %v", s)
		}
	})
	t.Run("fresh_user_state only for new users, user_state merged always (27, 29, 30)", func(t *testing.T) {
		a := newAPI(t, nil)
		a.ok("POST", "/connect", `{"username": "a", "fresh_user_state": {"f": 1, "g": "x"}, "user_state": {"u": true}, "state_public_keys": ["f"]}`)
		v := a.ok("POST", "/connect", `{"username": "a", "fresh_user_state": {"f": 2}, "user_state": {"g": "y", "n": null}, "state_public_keys": ["g"]}`)
		st, _ := json.Marshal(v["state"])
		jsonEq(t, st, `{"f": 1, "g": "y", "u": true}`)
		pub, _ := json.Marshal(v["public_state"])
		jsonEq(t, pub, `{"g": "y"}`)
	})
	t.Run("reconnect without state_public_keys resets them (28)", func(t *testing.T) {
		a := newAPI(t, nil)
		a.ok("POST", "/connect", `{"username": "a", "user_state": {"k": 1}, "state_public_keys": ["k"]}`)
		v := a.ok("POST", "/connect", `{"username": "a"}`)
		pub, _ := json.Marshal(v["public_state"])
		jsonEq(t, pub, `{}`)
	})
	t.Run("full state by default, public with return_public_state (31)", func(t *testing.T) {
		a := newAPI(t, nil)
		v := a.ok("POST", "/connect", `{"username": "a", "channels": ["c"], "user_state": {"p": 1, "s": 2}, "state_public_keys": ["p"]}`)
		u, _ := json.Marshal(v["channels_info"].(map[string]any)["users"])
		jsonEq(t, u, `[{"user": "a", "state": {"p": 1, "s": 2}}]`)
		v = a.ok("POST", "/connect", `{"username": "a", "channels": ["c"], "state_public_keys": ["p"], "info": {"return_public_state": true}}`)
		u, _ = json.Marshal(v["channels_info"].(map[string]any)["users"])
		jsonEq(t, u, `[{"user": "a", "state": {"p": 1}}]`)
	})
	t.Run("include_users=false keeps the true total (32, fix 9)", func(t *testing.T) {
		a := newAPI(t, nil)
		a.connect("b", "c")
		v := a.ok("POST", "/connect", `{"username": "a", "channels": ["c"], "info": {"include_users": false}}`)
		ci := v["channels_info"].(map[string]any)
		ch := ci["channels"].(map[string]any)["c"].(map[string]any)
		if ch["total_users"].(float64) != 2 || ch["total_connections"].(float64) != 2 || len(ch["users"].([]any)) != 0 || len(ci["users"].([]any)) != 0 {
			t.Fatalf("info %v", ci)
		}
	})
	t.Run("reusing own conn_id is idempotent (110, fix 7)", func(t *testing.T) {
		a := newAPI(t, nil)
		id := core.NewUUID()
		body := `{"username": "a", "conn_id": "` + id + `", "channels": ["c"]}`
		a.ok("POST", "/connect", body)
		v := a.ok("POST", "/connect", body)
		ch := v["channels_info"].(map[string]any)["channels"].(map[string]any)["c"].(map[string]any)
		if v["conn_id"] != id || ch["total_connections"].(float64) != 1 {
			t.Fatalf("reconnect %v", v)
		}
	})
	t.Run("another user's conn_id is 422 and changes nothing (fix 7)", func(t *testing.T) {
		a := newAPI(t, nil)
		id := core.NewUUID()
		a.ok("POST", "/connect", `{"username": "a", "conn_id": "`+id+`"}`)
		code, b := a.call("POST", "/connect", `{"username": "b", "conn_id": "`+id+`", "channels": ["z"]}`)
		status(t, code, 422, b)
		jsonEq(t, b, `{"conn_id": ["Connection id belongs to another user"]}`)
		if adm := a.hub.Admin(t.Context()); adm.RememberedUserCount != 1 || adm.TotalChannels != 0 {
			t.Fatalf("hub changed: %+v", adm)
		}
	})
	t.Run("user is an alias of username (PROTOCOL §1)", func(t *testing.T) {
		a := newAPI(t, nil)
		v := a.ok("POST", "/connect", `{"user": "bob"}`)
		if v["username"] != "bob" {
			t.Fatalf("username %v", v["username"])
		}
	})
}

func TestInfoOptions(t *testing.T) {
	a := newAPI(t, nil)
	a.ok("POST", "/channel_config", `{"h": {"store_history": true}}`)
	a.connect("a", "h", "x")
	if code, b := a.call("POST", "/message", `[{"user": "a", "channel": "h", "message": {"t": 1}}]`); code != 200 {
		t.Fatalf("message: %d %s", code, b)
	}
	t.Run("include_history=false empties history (33)", func(t *testing.T) {
		v := a.ok("POST", "/info", `{"info": {"include_history": false}}`)
		if h := v["channels"].(map[string]any)["h"].(map[string]any)["history"].([]any); len(h) != 0 {
			t.Fatalf("history %v", h)
		}
		v = a.ok("POST", "/info", `{"info": {}}`)
		if h := v["channels"].(map[string]any)["h"].(map[string]any)["history"].([]any); len(h) != 1 {
			t.Fatalf("history %v", h)
		}
	})
	t.Run("exclude_channels (34)", func(t *testing.T) {
		v := a.ok("POST", "/info", `{"info": {"exclude_channels": ["h"]}}`)
		if _, ok := v["channels"].(map[string]any)["h"]; ok {
			t.Fatalf("h not excluded: %v", v)
		}
	})
	t.Run("empty body lists everything with any method (80)", func(t *testing.T) {
		for _, m := range []string{"GET", "POST", "DELETE"} {
			code, b := a.call(m, "/info", nil)
			status(t, code, 200, b)
			var v map[string]map[string]any
			_ = json.Unmarshal(b, &v)
			if len(v["channels"]) != 2 {
				t.Fatalf("%s /info: %s", m, b)
			}
		}
	})
	t.Run("a body without info is 422 (81)", func(t *testing.T) {
		code, b := a.call("POST", "/info", `{}`)
		status(t, code, 422, b)
		jsonEq(t, b, `{"info": ["Missing data for required field."]}`)
	})
	t.Run("info.channels filters, unknown names omitted (82)", func(t *testing.T) {
		v := a.ok("POST", "/info", `{"info": {"channels": ["x", "nope"]}}`)
		chs := v["channels"].(map[string]any)
		if _, ok := chs["x"]; !ok || len(chs) != 1 {
			t.Fatalf("channels %v", chs)
		}
	})
}
