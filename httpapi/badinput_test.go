package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// TestBadInputChangesNothing sends every kind of bad input to every
// endpoint: each gets a 4xx with a JSON body that names the problem, and
// the hub looks exactly the same afterwards.
func TestBadInputChangesNothing(t *testing.T) {
	a := newAPI(t, func(c *Config, _ *core.Config) { c.MaxBodyBytes = 4096 })
	a.ok("POST", "/channel_config", `{"c": {"store_history": true}}`)
	id := a.connect("alice", "c")
	if code, b := a.call("POST", "/message", `{"user": "s", "channel": "c", "message": {"a": 1}}`); code != 200 {
		t.Fatalf("message: %d %s", code, b)
	}
	snapshot := func() string {
		info := a.hub.Info(t.Context(), core.DefaultInfoOptions())
		adm := a.hub.Admin(t.Context())
		adm.Uptime = ""
		b, _ := json.Marshal([]any{info, adm})
		return string(b)
	}
	before := snapshot()

	unknown := "12345678-1234-5678-1234-567812345678"
	huge := `{"username": "` + strings.Repeat("x", 5000) + `"}`
	bad := map[string][]string{
		"POST /connect": {`{"username":`, `[]`, `"x"`, `{"username": 5}`, `{"username": "a", "channels": [1]}`,
			`{"username": "a", "conn_id": "nope"}`, `{"username": "bob", "conn_id": "` + id + `"}`,
			`{"username": "a", "channel_configs": {"z": {"history_size": -1}}}`, `{"username": "a", "user_state": {"k": []}}`, huge},
		"POST /subscribe": {`{`, `{"conn_id": "` + unknown + `", "channels": ["z"]}`, `{"conn_id": "` + id + `", "channels": []}`,
			`{"conn_id": "` + id + `", "channels": "z"}`, `{"conn_id": 7, "channels": ["z"]}`, huge},
		"POST /unsubscribe": {`nope`, `{"conn_id": "` + unknown + `", "channels": ["c"]}`, `{"conn_id": "` + id + `"}`, huge},
		"POST /user_state": {`{]`, `{"user": "ghost", "user_state": {"a": 1}}`, `{"user": "alice", "user_state": {"a": {}}}`,
			`{"user": "alice", "state_public_keys": "a"}`, huge},
		"POST /message": {`[{`, `5`, `[{}]`, `[{"user": "s", "channel": 5}]`, `[{"user": "s", "channel": "c", "message": "text"}]`,
			`[{"user": "s", "channel": "c", "uuid": "x"}]`, `[{"user": "s", "channel": "c", "timestamp": "yesterday"}]`, huge},
		"PATCH /message":             {`[`, `[{"channel": "c"}]`, `[{"uuid": "bad"}]`, huge},
		"DELETE /message":            {`[`, `[{"channel": "c"}]`, `[{"uuid": 5}]`, huge},
		"POST /channel_config":       {`{`, `[]`, `{"c": 5}`, `{"c": {"history_size": "x"}}`, `{"c": {"store_history": "maybe"}}`, huge},
		"POST /info":                 {`{`, `{}`, `{"info": 5}`, `{"info": {"channels": "c"}}`, huge},
		"POST /disconnect":           {``, `{`, `{"conn_id": "nope"}`, `{}`, huge},
		"GET /disconnect?x=1":        {``},
		"GET /disconnect?conn_id=zz": {``},
	}
	for route, bodies := range bad {
		method, path, _ := strings.Cut(route, " ")
		for _, body := range bodies {
			name := route + " " + body
			if len(name) > 80 {
				name = name[:80]
			}
			t.Run(name, func(t *testing.T) {
				code, b := a.call(method, path, body)
				if code < 400 || code > 499 {
					t.Fatalf("status %d, want 4xx; body %s", code, b)
				}
				var v any
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatalf("body is not JSON: %s", b)
				}
				switch e := v.(type) {
				case map[string]any:
					if len(e) == 0 {
						t.Fatalf("empty error body")
					}
					if msg, ok := e["error"]; ok && msg == "" {
						t.Fatalf("empty error message")
					}
				case []any:
					if len(e) == 0 {
						t.Fatalf("empty error list")
					}
				default:
					t.Fatalf("error body %s is neither an object nor a list", b)
				}
			})
		}
	}
	if after := snapshot(); after != before {
		t.Fatalf("rejected requests changed the hub:\nbefore %s\nafter  %s", before, after)
	}
}
