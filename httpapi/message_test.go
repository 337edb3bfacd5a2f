package httpapi

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestMessageSend(t *testing.T) {
	a := newAPI(t, nil)
	a.ok("POST", "/channel_config", `{"c": {"store_history": true, "history_size": 2}, "all": {"store_history": true, "history_size": 0}}`)
	ra := a.attach(a.connect("a", "c"))
	rb := a.attach(a.connect("b", "c"))
	rz := a.attach(a.connect("z"))
	t.Run("non-list bodies (54)", func(t *testing.T) {
		for _, body := range []string{`5`, `"x"`, `true`} {
			code, b := a.call("POST", "/message", body)
			status(t, code, 422, b)
			jsonEq(t, b, `{"_schema": ["Invalid input type."]}`)
		}
		code, b := a.call("POST", "/message", `[]`)
		status(t, code, 200, b)
		jsonEq(t, b, `[]`)
	})
	t.Run("element errors keyed by index (55)", func(t *testing.T) {
		code, b := a.call("POST", "/message", `[{}]`)
		status(t, code, 422, b)
		jsonEq(t, b, `{"0": {"user": ["Missing data for required field."]}}`)
	})
	t.Run("malformed JSON is 400 (fix 1)", func(t *testing.T) {
		code, b := a.call("POST", "/message", `[{"user": `)
		status(t, code, 400, b)
	})
	t.Run("elements without target are dropped (56)", func(t *testing.T) {
		code, b := a.call("POST", "/message", `[{"user": "s", "message": {}}, {"user": "s", "channel": "c", "uuid": "12345678-1234-5678-1234-567812345678"}]`)
		status(t, code, 200, b)
		var echo []map[string]any
		_ = json.Unmarshal(b, &echo)
		if len(echo) != 1 || echo[0]["uuid"] != "12345678-1234-5678-1234-567812345678" {
			t.Fatalf("echo %s", b)
		}
		ra.wait(1)
		rb.wait(1)
	})
	t.Run("echo shape, client uuid and zoned timestamp kept (57, 58)", func(t *testing.T) {
		code, b := a.call("POST", "/message", `[{"user": "s", "channel": "c", "uuid": "22345678-1234-5678-1234-567812345678", "timestamp": "2020-01-01T10:00:00Z", "message": {"t": "hi"}, "extra_key": 5}]`)
		status(t, code, 200, b)
		jsonEq(t, b, `[{"pm_users": [], "exclude_users": [], "channel": "c", "no_history": false,
			"uuid": "22345678-1234-5678-1234-567812345678", "timestamp": "2020-01-01T10:00:00+00:00",
			"user": "s", "message": {"t": "hi"}, "extra_key": 5, "edited": null}]`)
		f := ra.wait(2)[1]
		delete(f, "seq")
		got, _ := json.Marshal(f)
		// 59, 127: delivery keys stripped, +00:00 written as Z on client transports.
		jsonEq(t, got, `{"channel": "c", "uuid": "22345678-1234-5678-1234-567812345678", "timestamp": "2020-01-01T10:00:00Z",
			"user": "s", "message": {"t": "hi"}, "extra_key": 5, "edited": null, "catchup": false, "type": "message"}`)
	})
	t.Run("unknown channel: nobody, not created, counted (60, 118)", func(t *testing.T) {
		before := a.hub.Admin(t.Context())
		a.call("POST", "/message", `{"user": "s", "channel": "nope"}`)
		after := a.hub.Admin(t.Context())
		if after.TotalChannels != before.TotalChannels || after.TotalUniqueMessages != before.TotalUniqueMessages+1 || after.TotalMessages != before.TotalMessages {
			t.Fatalf("before %+v after %+v", before, after)
		}
	})
	t.Run("pm_users in a channel, exclude wins (61, 62)", func(t *testing.T) {
		na, nb := len(ra.wait(2)), len(rb.wait(2))
		a.call("POST", "/message", `[{"user": "s", "channel": "c", "pm_users": ["b"], "message": {"n": 1}},
			{"user": "s", "channel": "c", "pm_users": ["a", "b"], "exclude_users": ["a"], "message": {"n": 2}},
			{"user": "s", "channel": "c", "message": {"n": 3}}]`)
		got := rb.wait(nb + 3)[nb:]
		ga := ra.wait(na + 1)[na:]
		if len(ga) != 1 || ga[0]["message"].(map[string]any)["n"].(float64) != 3 {
			t.Fatalf("a got %v", ga)
		}
		if len(got) != 3 {
			t.Fatalf("b got %v", got)
		}
	})
	t.Run("global PM reaches every connection, ignoring exclude_users (63, 64)", func(t *testing.T) {
		nz := len(rz.frames)
		a.call("POST", "/message", `{"user": "s", "pm_users": ["z"], "exclude_users": ["z"], "message": {"pm": true}}`)
		f := rz.wait(nz + 1)[nz]
		if f["channel"] != nil || f["type"] != "message" {
			t.Fatalf("pm %v", f)
		}
	})
	t.Run("history kept when asked, trimmed (65, 66, 67)", func(t *testing.T) {
		a.call("POST", "/message", `[{"user": "s", "channel": "c", "message": {"h": 1}}, {"user": "s", "channel": "c", "message": {"h": 2}, "no_history": true}, {"user": "s", "channel": "c", "message": {"h": 3}}]`)
		v := a.ok("POST", "/info", `{"info": {"channels": ["c"]}}`)
		hist := v["channels"].(map[string]any)["c"].(map[string]any)["history"].([]any)
		if len(hist) != 2 {
			t.Fatalf("history %v", hist)
		}
		last := hist[1].(map[string]any)
		for _, k := range []string{"pm_users", "exclude_users", "no_history", "catchup", "type", "edited", "uuid", "timestamp", "user", "channel"} {
			if _, ok := last[k]; !ok {
				t.Fatalf("history entry lacks %q: %v", k, last)
			}
		}
		if last["message"].(map[string]any)["h"].(float64) != 3 || last["catchup"] != false {
			t.Fatalf("last history entry %v", last)
		}
		for i := range 15 {
			a.call("POST", "/message", map[string]any{"user": "s", "channel": "all", "message": map[string]int{"i": i}})
		}
		v = a.ok("POST", "/info", `{"info": {"channels": ["all"]}}`)
		if n := len(v["channels"].(map[string]any)["all"].(map[string]any)["history"].([]any)); n != 15 {
			t.Fatalf("history_size 0 kept %d, want 15", n)
		}
	})
}

func TestMessageEditDelete(t *testing.T) {
	a := newAPI(t, nil)
	a.ok("POST", "/channel_config", `{"h": {"store_history": true}, "f": {}}`)
	rh := a.attach(a.connect("a", "h"))
	uuid := "32345678-1234-5678-1234-567812345678"
	a.call("POST", "/message", `{"user": "s", "channel": "h", "uuid": "`+uuid+`", "message": {"v": 1}}`)
	rh.wait(1)
	t.Run("uuid required (69)", func(t *testing.T) {
		code, b := a.call("PATCH", "/message", `[{"channel": "h"}]`)
		status(t, code, 422, b)
		jsonEq(t, b, `{"0": {"uuid": ["Missing data for required field."]}}`)
	})
	t.Run("edit updates history, default edited, broadcast (70, 71)", func(t *testing.T) {
		code, b := a.call("PATCH", "/message", `[{"uuid": "`+uuid+`", "channel": "h", "message": {"v": 2}}]`)
		status(t, code, 200, b)
		v := a.ok("POST", "/info", `{"info": {"channels": ["h"]}}`)
		e := v["channels"].(map[string]any)["h"].(map[string]any)["history"].([]any)[0].(map[string]any)
		if e["message"].(map[string]any)["v"].(float64) != 2 || e["edited"] == nil || e["user"] != "s" {
			t.Fatalf("history entry %v", e)
		}
		f := rh.wait(2)[1]
		if f["type"] != "message:edit" || f["uuid"] != uuid {
			t.Fatalf("edit frame %v", f)
		}
		if _, has := f["catchup"]; has {
			t.Fatalf("live edit carries catchup: %v", f)
		}
	})
	t.Run("edit of an unknown uuid still broadcasts (71)", func(t *testing.T) {
		a.call("PATCH", "/message", `{"uuid": "42345678-1234-5678-1234-567812345678", "channel": "h", "message": {}}`)
		if f := rh.wait(3)[2]; f["type"] != "message:edit" {
			t.Fatalf("frame %v", f)
		}
	})
	t.Run("edit reaches a queued copy without history (72)", func(t *testing.T) {
		id := a.connect("late", "f")
		u2 := "52345678-1234-5678-1234-567812345678"
		a.call("POST", "/message", `{"user": "s", "channel": "f", "uuid": "`+u2+`", "message": {"v": "old"}}`)
		a.call("PATCH", "/message", `{"uuid": "`+u2+`", "channel": "f", "message": {"v": "new"}}`)
		r := a.attach(id)
		got := r.wait(2)
		if got[0]["message"].(map[string]any)["v"] != "new" || got[0]["catchup"] != true || got[1]["catchup"] != true {
			t.Fatalf("catch-up %v", got)
		}
	})
	t.Run("PM edit reaches all the user's connections (73)", func(t *testing.T) {
		rp := a.attach(a.connect("p"))
		u3 := "62345678-1234-5678-1234-567812345678"
		a.call("POST", "/message", `{"user": "s", "pm_users": ["p"], "uuid": "`+u3+`", "message": {"v": 1}}`)
		a.call("PATCH", "/message", `{"uuid": "`+u3+`", "pm_users": ["p"], "message": {"v": 2}}`)
		if types := rp.wait(2); !slices.Equal(rp.types(), []string{"message", "message:edit"}) {
			t.Fatalf("frames %v", types)
		}
	})
	t.Run("delete removes from history and broadcasts (74)", func(t *testing.T) {
		code, b := a.call("DELETE", "/message", `[{"uuid": "`+uuid+`", "channel": "h"}]`)
		status(t, code, 200, b)
		jsonEq(t, b, `[{"pm_users": [], "exclude_users": [], "channel": "h", "no_history": false, "uuid": "`+uuid+`"}]`)
		v := a.ok("POST", "/info", `{"info": {"channels": ["h"]}}`)
		if h := v["channels"].(map[string]any)["h"].(map[string]any)["history"].([]any); len(h) != 0 {
			t.Fatalf("history %v", h)
		}
		f := rh.wait(4)[3]
		delete(f, "seq")
		got, _ := json.Marshal(f)
		jsonEq(t, got, `{"channel": "h", "uuid": "`+uuid+`", "type": "message:delete"}`)
	})
	t.Run("delete ignores extra keys (PROTOCOL §1 over checklist 75)", func(t *testing.T) {
		code, b := a.call("DELETE", "/message", `[{"uuid": "`+uuid+`", "channel": "h", "message": {}, "user": "s"}]`)
		status(t, code, 200, b)
		jsonEq(t, b, `[{"pm_users": [], "exclude_users": [], "channel": "h", "no_history": false, "uuid": "`+uuid+`"}]`)
	})
	t.Run("presence, state and edits never enter history (68)", func(t *testing.T) {
		v := a.ok("POST", "/info", `{"info": {"channels": ["h"]}}`)
		if h := v["channels"].(map[string]any)["h"].(map[string]any)["history"].([]any); len(h) != 0 {
			t.Fatalf("history %v", h)
		}
	})
}

func TestChannelConfig(t *testing.T) {
	a := newAPI(t, nil)
	t.Run("creates and returns without history and users (77)", func(t *testing.T) {
		code, b := a.call("POST", "/channel_config", `{"c": {"notify_presence": true, "store_history": true, "history_size": 5, "broadcast_presence_with_user_lists": true, "notify_state": true, "store_frames": false}}`)
		status(t, code, 200, b)
		var v struct {
			Channels map[string]map[string]any
			Users    []any
		}
		_ = json.Unmarshal(b, &v)
		s, _ := json.Marshal(v.Channels["c"]["settings"])
		jsonEq(t, s, `{"notify_presence": true, "store_history": true, "history_size": 5, "broadcast_presence_with_user_lists": true, "notify_state": true, "store_frames": false}`)
		if v.Users == nil || len(v.Users) != 0 {
			t.Fatalf("users %v", v.Users)
		}
	})
	t.Run("omitted keys reset to defaults (78)", func(t *testing.T) {
		v := a.ok("POST", "/channel_config", `{"c": {"history_size": 1}}`)
		s, _ := json.Marshal(v["channels"].(map[string]any)["c"].(map[string]any)["settings"])
		jsonEq(t, s, `{"notify_presence": false, "store_history": false, "history_size": 1, "broadcast_presence_with_user_lists": false, "notify_state": false, "store_frames": true}`)
	})
	t.Run("invalid value: the channel's errors, not nested (79)", func(t *testing.T) {
		code, b := a.call("POST", "/channel_config", `{"c": {"history_size": "x"}}`)
		status(t, code, 422, b)
		jsonEq(t, b, `{"history_size": ["Not a valid integer."]}`)
	})
	t.Run("array body is 400 (fix 1)", func(t *testing.T) {
		code, b := a.call("POST", "/channel_config", `[]`)
		status(t, code, 400, b)
	})
	t.Run("empty object", func(t *testing.T) {
		code, b := a.call("POST", "/channel_config", `{}`)
		status(t, code, 200, b)
		jsonEq(t, b, `{"channels": {}, "users": []}`)
	})
}

func TestTimestamps(t *testing.T) {
	a := newAPI(t, nil)
	code, b := a.call("POST", "/message", `{"user": "s", "channel": "c"}`)
	status(t, code, 200, b)
	var echo []map[string]any
	_ = json.Unmarshal(b, &echo)
	ts := echo[0]["timestamp"].(string)
	if _, err := time.Parse("2006-01-02T15:04:05.999999", ts); err != nil { // 127: naive UTC ISO
		t.Fatalf("timestamp %q: %v", ts, err)
	}
}
