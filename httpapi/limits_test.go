package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// unchanged fails when the hub's admin listing changed since before.
func (a *apiT) unchanged(before []byte) {
	a.t.Helper()
	if after, _ := json.Marshal(a.hub.Admin(a.t.Context())); string(after) != string(before) {
		a.t.Fatalf("refused request changed the hub:\nbefore %s\nafter  %s", before, after)
	}
}

func (a *apiT) adminSnapshot() []byte {
	b, _ := json.Marshal(a.hub.Admin(a.t.Context()))
	return b
}

func TestLimitChannelsPerConnIs422(t *testing.T) {
	a := newAPI(t, func(_ *Config, hc *core.Config) { hc.MaxChannelsPerConn = 2 })
	before := a.adminSnapshot()
	code, b := a.call("POST", "/connect", map[string]any{"username": "alice", "channels": []string{"a", "b", "c"}})
	status(t, code, http.StatusUnprocessableEntity, b)
	jsonEq(t, b, `{"channels": ["Too many channels for one connection (max 2)."]}`)
	a.unchanged(before)

	id := a.connect("alice", "a", "b")
	before = a.adminSnapshot()
	code, b = a.call("POST", "/subscribe", map[string]any{"conn_id": id, "channels": []string{"c"}})
	status(t, code, http.StatusUnprocessableEntity, b)
	jsonEq(t, b, `{"channels": ["Too many channels for one connection (max 2)."]}`)
	a.unchanged(before)
}

func TestLimitConnsPerUserIs429(t *testing.T) {
	a := newAPI(t, func(_ *Config, hc *core.Config) { hc.MaxConnsPerUser = 1 })
	a.connect("alice", "news")
	before := a.adminSnapshot()
	code, b := a.call("POST", "/connect", map[string]any{"username": "alice", "channels": []string{"news", "more"}})
	status(t, code, http.StatusTooManyRequests, b)
	jsonEq(t, b, `{"error": "Too many connections for user \"alice\" (max 1)."}`)
	a.unchanged(before)
}

func TestLimitConnectionsIs429(t *testing.T) {
	a := newAPI(t, func(_ *Config, hc *core.Config) { hc.MaxConnections = 1 })
	a.connect("alice")
	before := a.adminSnapshot()
	code, b := a.call("POST", "/connect", map[string]any{"username": "bob"})
	status(t, code, http.StatusTooManyRequests, b)
	jsonEq(t, b, `{"error": "The server has too many connections (max 1); try again later."}`)
	a.unchanged(before)
}

func TestLimitMessageBytesIs422(t *testing.T) {
	const max = 512
	a := newAPI(t, func(_ *Config, hc *core.Config) { hc.MaxMessageBytes = max })
	r := a.attach(a.connect("alice", "news"))
	big := map[string]any{"user": "sys", "channel": "news", "message": map[string]string{"text": strings.Repeat("x", max)}}
	small := map[string]any{"user": "sys", "channel": "news", "message": map[string]string{"text": "hi"}}
	dropped := map[string]any{"user": "sys", "message": map[string]string{"text": "no channel, no pm_users: dropped"}}
	want := fmt.Sprintf(`["Message is larger than %d bytes."]`, max)
	before := a.adminSnapshot()
	t.Run("keyed by its index in the body", func(t *testing.T) {
		code, b := a.call("POST", "/message", []any{small, dropped, big})
		status(t, code, http.StatusUnprocessableEntity, b)
		jsonEq(t, b, `{"2": {"message": `+want+`}}`)
	})
	t.Run("a single object is not keyed", func(t *testing.T) {
		code, b := a.call("POST", "/message", big)
		status(t, code, http.StatusUnprocessableEntity, b)
		jsonEq(t, b, `{"message": `+want+`}`)
	})
	t.Run("nothing was delivered", func(t *testing.T) {
		a.unchanged(before)
		if got := r.types(); len(got) != 0 {
			t.Fatalf("delivered %v", got)
		}
	})
	t.Run("small messages still pass", func(t *testing.T) {
		code, b := a.call("POST", "/message", []any{small})
		status(t, code, http.StatusOK, b)
		r.wait(1)
	})
}

func TestLimitStateIs422(t *testing.T) {
	a := newAPI(t, func(_ *Config, hc *core.Config) { hc.MaxStateKeys = 2; hc.MaxStateValueBytes = 16 })
	before := a.adminSnapshot()
	t.Run("too many keys on connect", func(t *testing.T) {
		code, b := a.call("POST", "/connect", map[string]any{"username": "alice",
			"user_state": map[string]any{"a": 1, "b": 2, "c": 3}})
		status(t, code, http.StatusUnprocessableEntity, b)
		jsonEq(t, b, `{"user_state": ["Too many state keys (max 2)."]}`)
		a.unchanged(before)
	})
	t.Run("a value too large on connect", func(t *testing.T) {
		code, b := a.call("POST", "/connect", map[string]any{"username": "alice",
			"fresh_user_state": map[string]any{"bio": strings.Repeat("é", 9)}})
		status(t, code, http.StatusUnprocessableEntity, b)
		jsonEq(t, b, `{"fresh_user_state": ["The value of state key \"bio\" is larger than 16 bytes."]}`)
		a.unchanged(before)
	})
	a.ok("POST", "/connect", map[string]any{"username": "alice", "user_state": map[string]any{"a": 1}})
	before = a.adminSnapshot()
	t.Run("too many keys on user_state", func(t *testing.T) {
		code, b := a.call("POST", "/user_state", map[string]any{"user": "alice",
			"user_state": map[string]any{"b": 2, "c": 3}})
		status(t, code, http.StatusUnprocessableEntity, b)
		jsonEq(t, b, `{"user_state": ["Too many state keys (max 2)."]}`)
		a.unchanged(before)
	})
	t.Run("a key too large on user_state", func(t *testing.T) {
		code, b := a.call("POST", "/user_state", map[string]any{"user": "alice",
			"user_state": map[string]any{strings.Repeat("k", 17): true}})
		status(t, code, http.StatusUnprocessableEntity, b)
		jsonEq(t, b, `{"user_state": ["A state key is larger than 16 bytes."]}`)
		a.unchanged(before)
	})
}
