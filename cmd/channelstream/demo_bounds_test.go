package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The demo acts only on its own users and channels, stays bounded and
// collects what its clients leave (hardening issue 12, item 1).

func TestDemoCannotSeeOrChangeTheApplication(t *testing.T) {
	tg := demoGateway(t)
	// The application's alice, with a private key, in a channel with history.
	code, b := tg.Call("POST", "/connect", map[string]any{"username": "alice", "channels": []string{"pub_chan"},
		"user_state": map[string]any{"ssn": "123-45-6789", "color": "#000000"}, "state_public_keys": []string{"color"},
		"channel_configs": map[string]any{"pub_chan": map[string]any{"store_history": true}}})
	if code != http.StatusOK {
		t.Fatalf("app connect: %d %s", code, b)
	}
	var app struct {
		ConnID string `json:"conn_id"`
	}
	_ = json.Unmarshal(b, &app)
	tg.Call("POST", "/message", []any{map[string]any{"user": "app", "channel": "pub_chan", "message": map[string]any{"text": "app secret"}}})
	before := appView(t, tg)

	// A browser connects to the demo as "alice", in the same channel names.
	id, res := demoConnect(t, tg, "alice", "#aa0000", "pub_chan", "notify")
	if strings.Contains(fmt.Sprint(res), "123-45-6789") || strings.Contains(fmt.Sprint(res), "app secret") {
		t.Fatalf("the demo's answer shows the application's data: %v", res)
	}
	demoOK(t, tg, "POST", "/demo/message", map[string]any{"conn_id": id, "channel": "pub_chan", "message": map[string]any{"text": "from the demo"}})
	demoOK(t, tg, "POST", "/demo/user_state", map[string]any{"conn_id": id, "update_state": map[string]any{"user_state": map[string]any{"color": "#00aa00"}}})
	demoOK(t, tg, "POST", "/demo/subscribe", map[string]any{"conn_id": id, "channels": []string{"room"}})

	// The demo's transports and /demo/disconnect do not know the
	// application's connection, and the demo's are unknown to the app's.
	if code, b, _ := demoDo(t, tg.URL, "GET", "/demo/listen?conn_id="+app.ConnID, nil); code != http.StatusUnauthorized {
		t.Errorf("/demo/listen with the app's connection: %d %s, want 401 (unknown)", code, b)
	}
	if code, b, _ := demoDo(t, tg.URL, "POST", "/demo/disconnect", map[string]any{"conn_id": app.ConnID}); code != http.StatusOK || string(b) != "false" {
		t.Errorf("/demo/disconnect of the app's connection: %d %s, want 200 false", code, b)
	}
	if code, b, _ := demoDo(t, tg.URL, "GET", "/listen?conn_id="+id, nil); code != http.StatusUnauthorized {
		t.Errorf("/listen with the demo's connection: %d %s, want 401 (unknown)", code, b)
	}
	if after := appView(t, tg); after != before {
		t.Fatalf("the demo changed the application:\nbefore %s\nafter  %s", before, after)
	}
	// And the application's calls do not reach the demo.
	tg.Call("POST", "/message", []any{map[string]any{"user": "app", "channel": "pub_chan", "message": map[string]any{"text": "app only"}}})
	if h := fmt.Sprint(demoHubInfo(t, tg, "pub_chan")); strings.Contains(h, "app only") || strings.Contains(h, "app secret") {
		t.Errorf("the demo's pub_chan holds the application's messages: %s", h)
	}
}

// appView is everything the application's API shows, but the clock.
func appView(t *testing.T, tg *testGateway) string {
	t.Helper()
	code, b := tg.Call("POST", "/info", map[string]any{"info": map[string]any{}})
	if code != http.StatusOK {
		t.Fatalf("info: %d %s", code, b)
	}
	a := tg.g.hub.Admin(t.Context())
	a.Uptime = ""
	ab, _ := json.Marshal(a)
	return string(b) + string(ab)
}

func TestDemoStaysBoundedAndCollectsWhatItsClientsLeave(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		c.Demo = true
		c.ConnTimeout = time.Second
		c.HeartbeatInterval = 200 * time.Millisecond
	})
	const requests = 600
	var refused atomic.Int32
	err := forEachParallel(requests, 16, func(i int) error {
		var chans []string // a quarter ask for new channels, the rest for none
		if i%4 == 0 {
			chans = make([]string, demoChannelsMax)
		}
		for j := range chans {
			chans[j] = fmt.Sprintf("c%d_%d", i, j)
		}
		body, _ := json.Marshal(map[string]any{"username": fmt.Sprint("u", i), "channels": chans})
		resp, err := http.Post(tg.URL+"/demo/connect", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		switch {
		case resp.StatusCode == http.StatusOK:
		case resp.StatusCode == http.StatusTooManyRequests && v["error"] != nil:
			refused.Add(1)
		default:
			return fmt.Errorf("connect %d: %d %v", i, resp.StatusCode, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a := tg.g.demo.hub.Admin(t.Context())
	t.Logf("%d of %d connects refused; the demo hub holds %d connections, %d users, %d channels",
		refused.Load(), requests, a.TotalConnections, a.RememberedUserCount, a.TotalChannels)
	if refused.Load() == 0 {
		t.Error("no request was refused")
	}
	if a.TotalConnections > demoMaxConns || a.RememberedUserCount > demoMaxUsers || a.TotalChannels > demoMaxChannels {
		t.Errorf("past its bounds: %d connections (max %d), %d users (max %d), %d channels (max %d)",
			a.TotalConnections, demoMaxConns, a.RememberedUserCount, demoMaxUsers, a.TotalChannels, demoMaxChannels)
	}
	if n := tg.g.hub.Admin(t.Context()); n.TotalChannels != 0 || n.RememberedUserCount != 0 {
		t.Errorf("the application's hub got %d channels and %d users from the demo", n.TotalChannels, n.RememberedUserCount)
	}
	// Nobody attached: connections, then their empty channels and users,
	// and the demo's records of them go.
	deadline := time.Now().Add(15 * time.Second)
	for {
		a = tg.g.demo.hub.Admin(t.Context())
		if a.TotalConnections == 0 && a.TotalChannels == 0 && a.RememberedUserCount == 0 && tg.g.demo.conns.len() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d connections, %d channels, %d users, %d connection records",
				a.TotalConnections, a.TotalChannels, a.RememberedUserCount, tg.g.demo.conns.len())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// There is room again.
	demoConnect(t, tg, "latecomer", "#123456", "pub_chan")
}

func TestDemoServedOnlyOnLoopbackUnlessDemoPublic(t *testing.T) {
	for _, c := range []struct {
		cfg  func(*Config)
		fail bool
	}{
		{func(c *Config) { c.Demo, c.Host = true, "0.0.0.0" }, true},
		{func(c *Config) { c.Demo, c.Host = true, "10.1.2.3" }, true},
		{func(c *Config) { c.Demo, c.Host, c.DemoPublic = true, "0.0.0.0", true }, false},
		{func(c *Config) { c.Demo, c.Host = true, "127.0.0.1" }, false},
		{func(c *Config) { c.Demo, c.Host = true, "::1" }, false},
		{func(c *Config) { c.Host = "0.0.0.0" }, false},
	} {
		cfg := defaultConfig()
		c.cfg(&cfg)
		err := checkDemoPublic(cfg)
		if (err != nil) != c.fail || (err != nil && !strings.Contains(err.Error(), "demo_public")) {
			t.Errorf("demo %v host %s demo_public %v: %v", cfg.Demo, cfg.Host, cfg.DemoPublic, err)
		}
	}
	t.Run("the binary refuses to start, and starts with demo_public", func(t *testing.T) {
		var out, errOut bytes.Buffer
		env := envOf(map[string]string{"CHANNELSTREAM_SECRET": apiSecret, "CHANNELSTREAM_ADMIN_SECRET": adminSecret})
		code := realMain([]string{"--demo", "--host", "0.0.0.0", "--port", "0"}, env, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), "demo_public") {
			t.Fatalf("exit %d, stderr %q", code, errOut.String())
		}
		bin := buildBinary(t)
		rb := startBinary(t, bin, []string{"CHANNELSTREAM_SECRET=" + apiSecret, "CHANNELSTREAM_ADMIN_SECRET=" + adminSecret},
			"--demo", "--demo-public", "--port", "0", "--shutdown_grace", "0")
		if logs := rb.Stop(t); !strings.Contains(logs, "demo_public") {
			t.Errorf("no warning at start:\n%s", logs)
		}
	})
}
