package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// TestGatewayLimitsFromConfig checks that every limit key reaches the hub.
func TestGatewayLimitsFromConfig(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		c.MaxChannelsPerConn, c.MaxConnsPerUser, c.MaxConnections = 2, 2, 3
		c.MaxMessageBytes, c.MaxStateKeys, c.MaxStateValueBytes = 400, 1, 8
	})
	for _, c := range []struct {
		name, method, path string
		body               any
		code               int
		want               string
	}{
		{"max_channels_per_conn", "POST", "/connect", map[string]any{"username": "a", "channels": []string{"x", "y", "z"}},
			http.StatusUnprocessableEntity, `{"channels":["Too many channels for one connection (max 2)."]}`},
		{"max_state_keys", "POST", "/connect", map[string]any{"username": "a", "user_state": map[string]any{"k": 1, "l": 2}},
			http.StatusUnprocessableEntity, `{"user_state":["Too many state keys (max 1)."]}`},
		{"max_state_value_bytes", "POST", "/connect", map[string]any{"username": "a", "user_state": map[string]any{"k": "123456789"}},
			http.StatusUnprocessableEntity, `{"user_state":["The value of state key \"k\" is larger than 8 bytes."]}`},
		{"max_message_bytes", "POST", "/message", []any{map[string]any{"user": "s", "channel": "x", "message": map[string]any{"t": strings.Repeat("m", 400)}}},
			http.StatusUnprocessableEntity, `{"0":{"message":["Message is larger than 400 bytes."]}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, b := tg.Call(c.method, c.path, c.body)
			if code != c.code || string(b) != c.want {
				t.Fatalf("%d %s, want %d %s", code, b, c.code, c.want)
			}
		})
	}
	t.Run("max_conns_per_user", func(t *testing.T) {
		tg.Connect("alice")
		tg.Connect("alice")
		code, b := tg.Call("POST", "/connect", map[string]any{"username": "alice"})
		if code != http.StatusTooManyRequests || !strings.Contains(string(b), "(max 2)") {
			t.Fatalf("%d %s", code, b)
		}
	})
	t.Run("max_connections", func(t *testing.T) {
		tg.Connect("bob")
		code, b := tg.Call("POST", "/connect", map[string]any{"username": "carol"})
		if code != http.StatusTooManyRequests || !strings.Contains(string(b), "(max 3)") {
			t.Fatalf("%d %s", code, b)
		}
	})
}

// TestGatewayMaxChannelsAndChannelCollection: max_channels refuses what
// would make more channels with 429 and changes nothing; a channel with
// no connection and no history is collected after conn_timeout, which
// makes room again.
func TestGatewayMaxChannelsAndChannelCollection(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		c.MaxChannels = 2
		c.ConnTimeout = 500 * time.Millisecond
		c.HeartbeatInterval = 100 * time.Millisecond
	})
	alice := tg.Connect("alice", "a")
	info := func() string {
		code, b := tg.Call("POST", "/info", map[string]any{"info": map[string]any{}})
		if code != http.StatusOK {
			t.Fatalf("info: %d %s", code, b)
		}
		return string(b)
	}
	before := info()
	for _, c := range []struct {
		path string
		body any
	}{
		{"/connect", map[string]any{"username": "bob", "channels": []string{"b", "c"}}},
		{"/subscribe", map[string]any{"conn_id": alice, "channels": []string{"b", "c"}}},
		{"/channel_config", map[string]any{"b": map[string]any{}, "c": map[string]any{}}},
	} {
		code, b := tg.Call("POST", c.path, c.body)
		if code != http.StatusTooManyRequests || string(b) != `{"error":"The server has too many channels (max 2); try again later."}` {
			t.Fatalf("%s: %d %s, want 429 and the max_channels error", c.path, code, b)
		}
		if after := info(); after != before {
			t.Fatalf("%s: the refusal changed the node:\n%s\n%s", c.path, before, after)
		}
	}
	if code, b := tg.Call("POST", "/unsubscribe", map[string]any{"conn_id": alice, "channels": []string{"a"}}); code != http.StatusOK {
		t.Fatalf("unsubscribe: %d %s", code, b)
	}
	// alice's connection is collected too (nothing attached); then "a".
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, b := tg.Call("POST", "/channel_config", map[string]any{"b": map[string]any{}, "c": map[string]any{}})
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel a never collected: %d %s", code, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGatewayClockSkewFromConfig checks that clock_skew reaches the API:
// a token further ahead than it is a bad signature, one within it passes,
// and clock_skew = 0 allows no future second at all.
func TestGatewayClockSkewFromConfig(t *testing.T) {
	for _, c := range []struct {
		skew  time.Duration
		ahead time.Duration
		code  int
	}{
		{10 * time.Second, 30 * time.Second, http.StatusUnauthorized},
		{10 * time.Second, 5 * time.Second, http.StatusOK},
		{time.Minute, 30 * time.Second, http.StatusOK},
		{0, 5 * time.Second, http.StatusUnauthorized},
	} {
		tg := startGateway(t, func(cfg *Config) { cfg.ClockSkew = c.skew })
		req, err := http.NewRequest("POST", tg.URL+"/connect", strings.NewReader(`{"username": "alice"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Channelstream-Secret", client.Sign(tg.Secret, "channelstream", time.Now().Add(c.ahead)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("clock_skew %s, token %s ahead: %d %s, want %d", c.skew, c.ahead, resp.StatusCode, b, c.code)
		}
	}
}

// TestMakeConfigFileIsPrivate: make_config -o writes the secrets' file with
// mode 0600, also over an existing file with a wider mode (issue 12,
// item 7).
func TestMakeConfigFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "channelstream.ini")
	if err := os.WriteFile(path, []byte("OLD-CONTENT"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil { // whatever the umask left
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	if code := realMain([]string{"make_config", "-o", path}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("make_config -o: %d %s", code, errOut.String())
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "admin_secret =") || strings.Contains(string(b), "OLD-CONTENT") {
		t.Fatalf("file content %q", b)
	}
}

// TestPagesCarryACSPAndNoListing: static files and the demo page carry a
// Content-Security-Policy, and a static directory is a 404, not a listing.
func TestPagesCarryACSPAndNoListing(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.Demo = true })
	get := func(path string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(tg.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, p := range []string{"/static/channelstream.js", "/static/admin/admin.js", "/static/demo/demo.css", "/demo", "/demo/demo.js"} {
		code, h, _ := get(p)
		if code != http.StatusOK || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") ||
			!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET %s: %d CSP %q", p, code, h.Get("Content-Security-Policy"))
		}
	}
	for _, p := range []string{"/static/", "/static/admin/", "/static/admin/vendor/", "/static/admin/vendor/uplot", "/static/demo"} {
		code, _, b := get(p)
		if code != http.StatusNotFound || strings.Contains(b, "<a href") {
			t.Errorf("GET %s: %d %.200s, want 404 without a listing", p, code, b)
		}
	}
}
