package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
)

// The admin browser test: headless Chromium signs in to a whole node with
// web/test/admin.mjs (playwright-core), watches the dashboard follow the
// node's state and signs out. Tools as for the transports browser test
// (browserTools in browser_test.go).
const (
	adminBrowserUser     = "operator"
	adminBrowserPassword = "correct horse battery staple"
	adminBrowserTimeout  = 90 * time.Second
	// adminBrowserBurst messages are published adminBrowserPace apart, so
	// that the dashboard's 2 s polls see a rate for a few samples.
	adminBrowserBurst = 40
	adminBrowserPace  = 100 * time.Millisecond
)

func TestAdminBrowserDashboard(t *testing.T) {
	node, webDir := browserTools(t)
	tg := startGateway(t, func(c *Config) {
		c.AdminUser, c.AdminSecret = adminBrowserUser, adminBrowserPassword
		c.CookieSecret = "admin-browser-test-cookie-secret"
		c.ConnTimeout = 10 * time.Minute    // the detached connection stays listed
		c.LongpollTimeout = 2 * time.Minute // the long-poll stays pending
	})

	// Three users, each on one transport; alice's state has a private key.
	adminBrowserCall(t, tg, "/channel_config", map[string]any{
		"news": map[string]any{"notify_presence": true, "store_history": true, "history_size": 50},
	})
	alice := adminBrowserConnect(t, tg, map[string]any{
		"username": "alice", "channels": []string{"news", "lobby"},
		"user_state": map[string]any{"status": "online", "secret_note": "do-not-show"}, "state_public_keys": []string{"status"},
	})
	bob := adminBrowserConnect(t, tg, map[string]any{"username": "bob", "channels": []string{"news"}})
	carol := adminBrowserConnect(t, tg, map[string]any{"username": "carol", "channels": []string{"quiet"}})
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	adminBrowserAttachWebSocket(t, ctx, &wg, tg, alice)
	adminBrowserAttachSSE(t, ctx, &wg, tg, bob)
	adminBrowserAttachLongPoll(t, ctx, &wg, tg, carol)
	adminBrowserWaitAttached(t, tg)

	// POST /grow: dave connects without a transport, then messages are
	// published to news over a few seconds; the answer is the totals the
	// dashboard must then show.
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if err := adminBrowserGrow(r.Context(), tg); err != nil {
			t.Errorf("grow: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a := tg.g.hub.Admin(r.Context())
		attached := tg.g.ws.Open() + tg.g.sse.Active() + tg.g.longpoll.Pending()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"users": a.UniqueUserCount, "connections": a.TotalConnections, "detached": a.TotalConnections - attached,
			"messages": a.TotalMessages, "unique": a.TotalUniqueMessages,
		})
	}))
	t.Cleanup(control.Close)

	shot := filepath.Join(t.ArtifactDir(), "admin-dashboard.png")
	cfg, err := json.Marshal(map[string]any{
		"baseURL":    tg.URL,
		"controlURL": control.URL + "/grow",
		"user":       adminBrowserUser,
		"password":   adminBrowserPassword,
		"initial": map[string]any{
			"users": 3, "connections": 3, "channels": 3,
			"transports": map[string]int{"websocket": 1, "sse": 1, "longpoll": 1},
		},
		"channel":          "news",
		"channelShows":     []string{"alice", "bob", "dave", "presence", "history (50)", fmt.Sprint(adminBrowserBurst)},
		"stateUser":        "alice",
		"publicState":      `{"status":"online"}`,
		"privateKey":       "secret_note",
		"version":          readBuild().String(),
		"screenshot":       shot,
		"signInScreenshot": filepath.Join(t.ArtifactDir(), "admin-sign-in-refused.png"),
		"timeoutMs":        (adminBrowserTimeout - 5*time.Second).Milliseconds(),
	})
	if err != nil {
		t.Fatal(err)
	}
	png := runBrowserPage(t, node, webDir, "admin.mjs", "CS_ADMIN_CONFIG", "admin page", cfg, adminBrowserTimeout, shot)
	t.Logf("dashboard screenshot: %s (%d KiB; kept with go test -artifacts)", shot, len(png)/1024)
}

// adminBrowserGrow connects dave to news without a transport, then
// publishes adminBrowserBurst messages to news, adminBrowserPace apart.
func adminBrowserGrow(ctx context.Context, tg *testGateway) error {
	body, _ := json.Marshal(map[string]any{"username": "dave", "channels": []string{"news"}})
	if code, b := adminBrowserPost(ctx, tg, "/connect", body); code != http.StatusOK {
		return fmt.Errorf("connect dave: %d %s", code, b)
	}
	for n := 1; n <= adminBrowserBurst; n++ {
		body, _ := json.Marshal([]map[string]any{{"user": "system", "channel": "news", "message": map[string]any{"n": n}}})
		if code, b := adminBrowserPost(ctx, tg, "/message", body); code != http.StatusOK {
			return fmt.Errorf("publish %d: %d %s", n, code, b)
		}
		select {
		case <-time.After(adminBrowserPace):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// adminBrowserPost makes a signed API call from a server goroutine: it
// returns what went wrong instead of failing the test.
func adminBrowserPost(ctx context.Context, tg *testGateway, path string, body []byte) (int, []byte) {
	code, b, err := tg.nodeAPI().Call(ctx, http.MethodPost, path, body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	return code, b
}

// adminBrowserCall makes a signed API call and requires 200.
func adminBrowserCall(t *testing.T, tg *testGateway, path string, body any) []byte {
	t.Helper()
	code, b := tg.Call("POST", path, body)
	if code != http.StatusOK {
		t.Fatalf("%s: %d %s", path, code, b)
	}
	return b
}

// adminBrowserConnect posts /connect with body and returns the conn_id.
func adminBrowserConnect(t *testing.T, tg *testGateway, body map[string]any) string {
	t.Helper()
	var v struct {
		ConnID string `json:"conn_id"`
	}
	if err := json.Unmarshal(adminBrowserCall(t, tg, "/connect", body), &v); err != nil || v.ConnID == "" {
		t.Fatalf("connect %v: %v", body, err)
	}
	return v.ConnID
}

// adminBrowserAttachWebSocket keeps a WebSocket attached to id, reading
// (and dropping) its frames until ctx ends.
func adminBrowserAttachWebSocket(t *testing.T, ctx context.Context, wg *sync.WaitGroup, tg *testGateway, id string) {
	t.Helper()
	ws, _, err := gws.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(tg.URL, "http")+"/ws?conn_id="+id, nil)
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		_ = ws.Close()
	}()
	go func() {
		defer wg.Done()
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
}

// adminBrowserAttachSSE keeps an SSE stream open on id until ctx ends.
func adminBrowserAttachSSE(t *testing.T, ctx context.Context, wg *sync.WaitGroup, tg *testGateway, id string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.URL+"/sse?conn_id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /sse: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET /sse: %d", resp.StatusCode)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
	}()
}

// adminBrowserAttachLongPoll keeps a /listen pending on id, polling again
// whenever one answers, until ctx ends.
func adminBrowserAttachLongPoll(t *testing.T, ctx context.Context, wg *sync.WaitGroup, tg *testGateway, id string) {
	t.Helper()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.URL+"/listen?conn_id="+id, nil)
			if err != nil {
				return
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				time.Sleep(50 * time.Millisecond) // ctx ended, or the node is stopping
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
}

// adminBrowserWaitAttached waits until one transport of each kind is
// attached.
func adminBrowserWaitAttached(t *testing.T, tg *testGateway) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := tg.g.transportCounts()
		if got["websocket"] == 1 && got["sse"] == 1 && got["longpoll"] == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("attached transports %v, want one of each", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
