package httpapi

import (
	"reflect"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// errorCase is one body that must be rejected with exactly want (a FieldErrors JSON).
type errorCase struct {
	name, body, want string
}

func TestDecodeBadJSON(t *testing.T) {
	bodies := map[string]string{
		"not JSON (checklist 17)":   `username=bob`,
		"truncated":                 `{"username": "bob"`,
		"trailing data":             `{"username": "bob"} {}`,
		"trailing garbage":          `{} x`,
		"NaN literal":               `{"username": NaN}`,
		"single quotes":             `{'username': 'bob'}`,
		"byte order mark":           "\xef\xbb\xbf{}",
		"two values in a list body": `[] []`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			_, err := decodeConnect([]byte(body))
			mustBadRequest(t, err, "invalid JSON at offset ")
			_, _, err = decodeMessages([]byte(body), core.KindSend, testNow)
			mustBadRequest(t, err, "invalid JSON at offset ")
		})
	}
	_, err := decodeConnect([]byte(`{"a": tru}`))
	mustBadRequest(t, err, "invalid JSON at offset 10: invalid character")
	// A body that ends too early is reported at its end, not at 0.
	_, err = decodeConnect([]byte(`{"username": `))
	mustBadRequest(t, err, "invalid JSON at offset 13: unexpected end of JSON input")
}

func TestDecodeConnectErrors(t *testing.T) {
	tests := []errorCase{
		{"empty object needs username (checklist 18)", `{}`, `{"username":["Missing data for required field."]}`},
		{"empty body is like {}", ``, `{"username":["Missing data for required field."]}`},
		{"empty username (checklist 19)", `{"username": ""}`, `{"username":["Length must be between 1 and 512."]}`},
		{"number username (checklist 20)", `{"username": 5}`, `{"username":["Not a valid string."]}`},
		{"null username", `{"username": null}`, `{"username":["Field may not be null."]}`},
		{"user alias validated under its own key", `{"user": ""}`, `{"user":["Length must be between 1 and 512."]}`},
		{"username wins over user", `{"username": null, "user": "bob"}`, `{"username":["Field may not be null."]}`},
		{"list state value (checklist 21)", `{"username": "u", "user_state": {"k": [1]}}`,
			`{"user_state":{"k":{"value":["Value is not type of string, integer, boolean or float."]}}}`},
		{"object fresh state value", `{"username": "u", "fresh_user_state": {"k": {"a": 1}}}`,
			`{"fresh_user_state":{"k":{"value":["Value is not type of string, integer, boolean or float."]}}}`},
		{"state not a mapping", `{"username": "u", "user_state": []}`, `{"user_state":["Not a valid mapping type."]}`},
		{"null state", `{"username": "u", "user_state": null}`, `{"user_state":["Field may not be null."]}`},
		{"bad conn_id", `{"username": "u", "conn_id": "x"}`, `{"conn_id":["Not a valid UUID."]}`},
		{"channels not a list", `{"username": "u", "channels": "a"}`, `{"channels":["Not a valid list."]}`},
		{"channel items by index", `{"username": "u", "channels": [null, 1, ""]}`,
			`{"channels":{"0":["Field may not be null."],"1":["Not a valid string."],"2":["Length must be between 1 and 256."]}}`},
		{"null state_public_keys", `{"username": "u", "state_public_keys": null}`, `{"state_public_keys":["Field may not be null."]}`},
		{"public key too long", `{"username": "u", "state_public_keys": ["` + long257 + `"]}`,
			`{"state_public_keys":{"0":["Length must be between 1 and 256."]}}`},
		{"info not an object", `{"username": "u", "info": []}`, `{"info":{"_schema":["Invalid input type."]}}`},
		{"info null", `{"username": "u", "info": null}`, `{"info":["Field may not be null."]}`},
		{"info fields", `{"username": "u", "info": {"channels": [1], "exclude_channels": "x", "include_history": "maybe", "include_users": null, "return_public_state": 2, "include_connections": 3}}`,
			`{"info":{"channels":{"0":["Not a valid string."]},"exclude_channels":["Not a valid list."],"include_history":["Not a valid boolean."],"include_users":["Field may not be null."],"return_public_state":["Not a valid boolean."],"include_connections":["Not a valid boolean."]}}`},
		{"channel_configs not a mapping", `{"username": "u", "channel_configs": []}`, `{"channel_configs":["Not a valid mapping type."]}`},
		{"channel_configs values", `{"username": "u", "channel_configs": {"a": 1, "b": {"history_size": "x", "store_frames": "x"}, "c": null, "d": {}}}`,
			`{"channel_configs":{"a":{"value":{"_schema":["Invalid input type."]}},"b":{"value":{"history_size":["Not a valid integer."],"store_frames":["Not a valid boolean."]}},"c":{"value":["Field may not be null."]}}}`},
		{"every error at once", `{"username": 5, "conn_id": 5, "channels": "a", "user_state": [], "info": []}`,
			`{"username":["Not a valid string."],"conn_id":["Not a valid UUID."],"channels":["Not a valid list."],"user_state":["Not a valid mapping type."],"info":{"_schema":["Invalid input type."]}}`},
		{"list body", `[]`, `{"_schema":["Invalid input type."]}`},
		{"null body", `null`, `{"_schema":["Invalid input type."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeConnect([]byte(tt.body))
			mustFieldErrors(t, err, tt.want)
		})
	}
}

func TestDecodeConnect(t *testing.T) {
	t.Run("defaults with only username (checklist 22, 28)", func(t *testing.T) {
		p, err := decodeConnect([]byte(`{"username": "alice", "unknown": [1]}`))
		if err != nil {
			t.Fatal(err)
		}
		want := core.ConnectParams{
			Username: "alice", Channels: []string{}, ChannelConfigs: map[string]core.ChannelConfig{},
			FreshUserState: core.State{}, UserState: core.State{}, StatePublicKeys: []string{},
			Info: core.InfoOptions{IncludeHistory: true, IncludeUsers: true},
		}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("decodeConnect = %#v\nwant %#v", p, want)
		}
	})
	t.Run("every field (checklist 23, 29)", func(t *testing.T) {
		p, err := decodeConnect([]byte(`{"username": "alice", "conn_id": "{12345678123412341234123456789ABC}",
			"channels": ["b", "a", "b"], "state_public_keys": ["color"],
			"fresh_user_state": {"n": 1.50, "s": "x"}, "user_state": {"color": "red", "gone": null, "ok": true},
			"channel_configs": {"a": {"notify_presence": "yes", "history_size": "3"}},
			"info": {"channels": ["z"], "exclude_channels": ["b"], "include_history": 0, "include_users": "off", "return_public_state": "t"}}`))
		if err != nil {
			t.Fatal(err)
		}
		cfg := core.DefaultChannelConfig()
		cfg.NotifyPresence, cfg.HistorySize = true, 3
		want := core.ConnectParams{
			Username: "alice", ConnID: "12345678-1234-1234-1234-123456789abc",
			Channels: []string{"b", "a", "b"}, StatePublicKeys: []string{"color"},
			ChannelConfigs: map[string]core.ChannelConfig{"a": cfg},
			FreshUserState: core.State{"n": jsonNumber("1.50"), "s": "x"},
			UserState:      core.State{"color": "red", "gone": nil, "ok": true},
			Info:           core.InfoOptions{ExcludeChannels: []string{"b"}, ReturnPublicState: true},
		}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("decodeConnect = %#v\nwant %#v", p, want)
		}
	})
	t.Run("user alias (PROTOCOL 1)", func(t *testing.T) {
		p, err := decodeConnect([]byte(`{"user": "bob"}`))
		if err != nil || p.Username != "bob" {
			t.Errorf("decodeConnect(user alias) = %q, %v; want bob", p.Username, err)
		}
	})
	t.Run("empty lists stay empty", func(t *testing.T) {
		p, err := decodeConnect([]byte(`{"username": "u", "state_public_keys": [], "info": {"channels": []}}`))
		if err != nil || p.StatePublicKeys == nil || len(p.StatePublicKeys) != 0 || p.Info.Channels != nil {
			t.Errorf("decodeConnect = %#v, %v", p, err)
		}
	})
}

func TestDecodeSubscribeErrors(t *testing.T) {
	const id = `"12345678-1234-1234-1234-123456789abc"`
	tests := []errorCase{
		{"nothing", `{}`, `{"conn_id":["Field may not be null."],"channels":["Missing data for required field."]}`},
		{"empty channels (checklist 43)", `{"conn_id": ` + id + `, "channels": []}`, `{"channels":["Shorter than minimum length 1."]}`},
		{"null conn_id and empty channels", `{"conn_id": null, "channels": []}`,
			`{"conn_id":["Field may not be null."],"channels":["Shorter than minimum length 1."]}`},
		{"bad conn_id and channel", `{"conn_id": "x", "channels": [""]}`,
			`{"conn_id":["Not a valid UUID."],"channels":{"0":["Length must be between 1 and 256."]}}`},
		{"null channels", `{"conn_id": ` + id + `, "channels": null}`, `{"channels":["Field may not be null."]}`},
		{"bad channel_configs and info", `{"conn_id": ` + id + `, "channels": ["a"], "channel_configs": {"a": {"history_size": -1}}, "info": {"include_users": "x"}}`,
			`{"channel_configs":{"a":{"value":{"history_size":["Must be greater than or equal to 0."]}}},"info":{"include_users":["Not a valid boolean."]}}`},
		{"list body", `[1]`, `{"_schema":["Invalid input type."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeSubscribe([]byte(tt.body), "")
			mustFieldErrors(t, err, tt.want)
			_, err = decodeUnsubscribe([]byte(tt.body), "")
			mustFieldErrors(t, err, tt.want)
		})
	}
	_, err := decodeSubscribe([]byte(`{"channels": ["a"]}`), "nope")
	mustFieldErrors(t, err, `{"conn_id":["Not a valid UUID."]}`)
}

func TestDecodeSubscribe(t *testing.T) {
	const canon = "12345678-1234-1234-1234-123456789abc"
	t.Run("conn_id from the query (checklist 42)", func(t *testing.T) {
		p, err := decodeSubscribe([]byte(`{"channels": ["a", "b"]}`), "12345678123412341234123456789ABC")
		if err != nil {
			t.Fatal(err)
		}
		want := core.SubscribeParams{ConnID: canon, Channels: []string{"a", "b"},
			ChannelConfigs: map[string]core.ChannelConfig{}, Info: core.DefaultInfoOptions()}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("decodeSubscribe = %#v\nwant %#v", p, want)
		}
	})
	t.Run("body conn_id wins over the query", func(t *testing.T) {
		p, err := decodeSubscribe([]byte(`{"conn_id": "`+canon+`", "channels": ["a"]}`), "nope")
		if err != nil || p.ConnID != canon {
			t.Errorf("decodeSubscribe = %#v, %v", p, err)
		}
	})
	t.Run("valid fields are returned with the errors", func(t *testing.T) {
		p, err := decodeSubscribe([]byte(`{"channels": []}`), canon)
		mustFieldErrors(t, err, `{"channels":["Shorter than minimum length 1."]}`)
		if p.ConnID != canon {
			t.Errorf("ConnID = %q, want %q so the handler can check it against the hub", p.ConnID, canon)
		}
	})
	t.Run("body null conn_id is not replaced by the query", func(t *testing.T) {
		_, err := decodeSubscribe([]byte(`{"conn_id": null, "channels": ["a"]}`), canon)
		mustFieldErrors(t, err, `{"conn_id":["Field may not be null."]}`)
	})
	t.Run("unsubscribe accepts channel_configs and info", func(t *testing.T) {
		p, err := decodeUnsubscribe([]byte(`{"conn_id": "`+canon+`", "channels": ["a"], "channel_configs": {"a": {}},
			"info": {"include_history": false, "channels": ["x"]}}`), "")
		if err != nil || p.Info.IncludeHistory || p.Info.Channels != nil || p.ChannelConfigs["a"] != core.DefaultChannelConfig() {
			t.Errorf("decodeUnsubscribe = %#v, %v", p, err)
		}
	})
}

func TestDecodeUserState(t *testing.T) {
	tests := []errorCase{
		{"user required", `{}`, `{"user":["Missing data for required field."]}`},
		{"user too long", `{"user": "` + long257 + long257 + `"}`, `{"user":["Length must be between 1 and 512."]}`},
		{"null state", `{"user": "u", "user_state": null}`, `{"user_state":["Field may not be null."]}`},
		{"object state value", `{"user": "u", "user_state": {"k": {}}}`,
			`{"user_state":{"k":{"value":["Value is not type of string, integer, boolean or float."]}}}`},
		{"public key not a string", `{"user": "u", "state_public_keys": [1]}`, `{"state_public_keys":{"0":["Not a valid string."]}}`},
		{"public keys not a list", `{"user": "u", "state_public_keys": "a"}`, `{"state_public_keys":["Not a valid list."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeUserState([]byte(tt.body))
			mustFieldErrors(t, err, tt.want)
		})
	}
	ok := []struct {
		name, body string
		want       core.UserStateParams
	}{
		{"absent keys are kept (checklist 50)", `{"user": "u"}`, core.UserStateParams{User: "u", State: core.State{}}},
		{"null keys are kept", `{"user": "u", "state_public_keys": null, "user_state": {"a": 1}}`,
			core.UserStateParams{User: "u", State: core.State{"a": jsonNumber("1")}}},
		{"empty list clears (checklist 50)", `{"user": "u", "state_public_keys": []}`,
			core.UserStateParams{User: "u", State: core.State{}, PublicKeys: []string{}, SetPublicKeys: true}},
		{"list replaces", `{"user": "u", "state_public_keys": ["a"], "extra": 1}`,
			core.UserStateParams{User: "u", State: core.State{}, PublicKeys: []string{"a"}, SetPublicKeys: true}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeUserState([]byte(tt.body))
			if err != nil || !reflect.DeepEqual(p, tt.want) {
				t.Errorf("decodeUserState = %#v, %v\nwant %#v", p, err, tt.want)
			}
		})
	}
}

func TestDecodeChannelConfig(t *testing.T) {
	tests := []errorCase{
		{"bad value is not nested under the name (checklist 79)", `{"c": {"history_size": "x", "zzz": 1}}`,
			`{"history_size":["Not a valid integer."]}`},
		{"first failing channel in name order", `{"b": {"store_history": "x"}, "a": {"notify_state": 5}, "c": {}}`,
			`{"notify_state":["Not a valid boolean."]}`},
		{"value not an object", `{"ok": {}, "x": 5}`, `{"_schema":["Invalid input type."]}`},
		{"null value", `{"x": null}`, `{"_schema":["Invalid input type."]}`},
		{"negative history", `{"x": {"history_size": -1}}`, `{"history_size":["Must be greater than or equal to 0."]}`},
		{"fractional history", `{"x": {"history_size": 7.5}}`, `{"history_size":["Not a valid integer."]}`},
		{"infinite history", `{"x": {"history_size": 1e400}}`, `{"history_size":["Number too large."]}`},
		{"null setting", `{"x": {"notify_presence": null, "history_size": null}}`,
			`{"notify_presence":["Field may not be null."],"history_size":["Field may not be null."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeChannelConfig([]byte(tt.body))
			mustFieldErrors(t, err, tt.want)
		})
	}
	for _, body := range []string{`[]`, `[{"c": {}}]`, `"c"`, `null`, `5`} {
		_, err := decodeChannelConfig([]byte(body))
		mustBadRequest(t, err, "JSON object")
	}
	t.Run("omitted keys get defaults (checklist 77, 78)", func(t *testing.T) {
		got, err := decodeChannelConfig([]byte(`{"ed": {"history_size": "1", "store_frames": "no"},
			"all": {"notify_presence": true, "store_history": 1, "history_size": 0,
				"broadcast_presence_with_user_lists": "on", "notify_state": "y", "store_frames": true}, "d": {}}`))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]core.ChannelConfig{
			"ed":  {HistorySize: 1},
			"all": {NotifyPresence: true, StoreHistory: true, BroadcastPresenceWithUserLists: true, NotifyState: true, StoreFrames: true},
			"d":   core.DefaultChannelConfig(),
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decodeChannelConfig = %#v\nwant %#v", got, want)
		}
	})
	for _, body := range []string{``, `{}`, " \n"} {
		got, err := decodeChannelConfig([]byte(body))
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("decodeChannelConfig(%q) = %#v, %v; want an empty map", body, got, err)
		}
	}
}

func TestDecodeInfo(t *testing.T) {
	tests := []errorCase{
		{"info required (checklist 81)", `{}`, `{"info":["Missing data for required field."]}`},
		{"info null", `{"info": null}`, `{"info":["Field may not be null."]}`},
		{"info not an object", `{"info": []}`, `{"info":{"_schema":["Invalid input type."]}}`},
		{"channels null", `{"info": {"channels": null}}`, `{"info":{"channels":["Field may not be null."]}}`},
		{"body not an object", `[]`, `{"_schema":["Invalid input type."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeInfo([]byte(tt.body))
			mustFieldErrors(t, err, tt.want)
		})
	}
	ok := []struct {
		name, body string
		want       core.InfoOptions
	}{
		{"empty body: all channels, defaults (checklist 80)", ``, core.DefaultInfoOptions()},
		{"empty info object", `{"info": {}}`, core.DefaultInfoOptions()},
		{"channel filter (checklist 82)", `{"info": {"channels": ["a"]}}`,
			core.InfoOptions{Channels: []string{"a"}, IncludeHistory: true, IncludeUsers: true}},
		{"empty channel filter means none", `{"info": {"channels": []}}`,
			core.InfoOptions{Channels: []string{}, IncludeHistory: true, IncludeUsers: true}},
		{"every option (checklist 31-34)", `{"info": {"exclude_channels": ["b"], "include_history": false,
			"include_users": "false", "return_public_state": "1", "include_connections": true}, "other": 1}`,
			core.InfoOptions{ExcludeChannels: []string{"b"}, ReturnPublicState: true}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeInfo([]byte(tt.body))
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decodeInfo = %#v, %v\nwant %#v", got, err, tt.want)
			}
		})
	}
}

func TestDecodeDisconnect(t *testing.T) {
	tests := []errorCase{
		{"missing conn_id is null (checklist 84)", `{}`, `{"conn_id":["Field may not be null."]}`},
		{"null conn_id", `{"conn_id": null}`, `{"conn_id":["Field may not be null."]}`},
		{"bad conn_id", `{"conn_id": "x"}`, `{"conn_id":["Not a valid UUID."]}`},
		{"number conn_id", `{"conn_id": 5}`, `{"conn_id":["Not a valid UUID."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeDisconnect([]byte(tt.body))
			mustFieldErrors(t, err, tt.want)
		})
	}
	for _, body := range []string{``, "  \n", `[]`, `null`, `"x"`} {
		_, err := decodeDisconnect([]byte(body))
		mustBadRequest(t, err, "")
	}
	id, err := decodeDisconnect([]byte(`{"conn_id": "urn:uuid:12345678123412341234123456789ABC", "x": 1}`))
	if err != nil || id != "12345678-1234-1234-1234-123456789abc" {
		t.Errorf("decodeDisconnect = %q, %v (checklist 85)", id, err)
	}
}
