package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// presenceLog collects what a subscriber receives: message texts in order
// and presence actions by user.
type presenceLog struct {
	texts   []string
	actions map[string][]string
}

// drain reads sub until cond holds or within passes, recording frames.
func (p *presenceLog) drain(t *testing.T, sub subscriber, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("timed out after %v: texts %v, presence %v", within, p.texts, p.actions)
		}
		batch, err := sub.Next(min(left, time.Second))
		if err == errNoBatch {
			continue
		}
		if err != nil {
			t.Fatalf("subscriber ended: %v", err)
		}
		for _, f := range batch {
			switch f.Type() {
			case "message":
				p.texts = append(p.texts, f.Text())
			case "presence":
				p.actions[f.Str("user")] = append(p.actions[f.Str("user")], f.Obj("message")["action"].(string))
			}
		}
	}
}

// TestClusterNodeKilled kills one of two nodes with SIGKILL while messages
// flow: the other node's subscriber loses nothing, hears each user of the
// dead node parted exactly once after the inactivity window (and not a
// user who still has a connection on the live node), and the dead node's
// connections are gone from the cluster.
func TestClusterNodeKilled(t *testing.T) {
	srv := redistest.Start(t)
	bin := buildBinary(t)
	args := []string{"--host", "127.0.0.1", "--port", "0", "--secret", "s", "--redis_url", srv.URL(),
		"--conn_timeout", "2s", "--heartbeat_interval", "300ms"}
	a := startBinary(t, bin, nil, args...)
	b := startBinary(t, bin, nil, args...)
	apiA := &testGateway{t: t, URL: "http://" + a.addr, Secret: "s"}
	apiB := &testGateway{t: t, URL: "http://" + b.addr, Secret: "s"}

	if code, body := apiA.Call("POST", "/channel_config", map[string]any{"p": map[string]any{"notify_presence": true}}); code != http.StatusOK {
		t.Fatalf("channel_config: %d %s", code, body)
	}
	watcher := openWS(t, apiA.URL, apiA.Connect("watcher", "p"))
	ghost := openWS(t, apiB.URL, apiB.Connect("ghost", "p"))
	both1 := openWS(t, apiA.URL, apiB.Connect("both", "p"))
	both2 := openWS(t, apiB.URL, apiA.Connect("both", "p"))
	for _, s := range []subscriber{ghost, both1, both2} {
		t.Cleanup(s.Close)
	}
	seen := &presenceLog{actions: map[string][]string{}}
	seen.drain(t, watcher, 10*time.Second, func() bool {
		return len(seen.actions["ghost"]) == 1 && len(seen.actions["both"]) == 1
	})

	// Publish through node A while node B dies.
	const total = 60
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range total {
			code, body, err := apiA.post(nil, "POST", "/message", map[string]any{"channel": "p", "user": "s", "message": msgText(fmt.Sprint(i))})
			if err != nil || code != http.StatusOK {
				t.Errorf("message %d: %d %s %v", i, code, body, err)
			}
			time.Sleep(20 * time.Millisecond) // a steady stream, not a wait for a result
		}
	})
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	seen.drain(t, watcher, 15*time.Second, func() bool { return len(seen.texts) == total && len(seen.actions["ghost"]) == 2 })
	wg.Wait()
	took := time.Since(killed)
	for i, text := range seen.texts {
		if text != fmt.Sprint(i) {
			t.Fatalf("watcher got %v: lost, duplicated or out of order", seen.texts)
		}
	}
	if got := seen.actions["ghost"]; got[1] != "parted" {
		t.Fatalf("ghost presence %v", got)
	}
	t.Logf("ghost parted %v after the SIGKILL (conn_timeout 2s)", took.Round(time.Millisecond))

	// Twice the window later: no second parted, "both" kept (its node-A
	// connection lives), and the cluster forgot every connection of B.
	quiet := time.Now().Add(5 * time.Second)
	seen.drain(t, watcher, 10*time.Second, func() bool { return time.Now().After(quiet) })
	if got := seen.actions["ghost"]; len(got) != 2 {
		t.Fatalf("ghost presence %v, want joined, parted", got)
	}
	if got := seen.actions["both"]; len(got) != 1 {
		t.Fatalf("both presence %v: parted although a connection lives on node A", got)
	}
	code, body := apiA.Call("POST", "/info", map[string]any{"info": map[string]any{"include_users": true}})
	var info struct {
		Channels map[string]struct {
			TotalConnections int      `json:"total_connections"`
			Users            []string `json:"users"`
		} `json:"channels"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &info) != nil {
		t.Fatalf("info: %d %s", code, body)
	}
	if p := info.Channels["p"]; p.TotalConnections != 2 || len(p.Users) != 2 {
		t.Fatalf("channel p after the kill: %s", body)
	}
}

// TestClusterRedisOutage stops Redis under two nodes, then starts it again
// (empty): while it is away both nodes answer /readyz 503, a publish gets
// a 503 JSON error, and attached clients stay connected; when it is back
// both nodes become ready and deliver again without a restart.
func TestClusterRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	nodes := startCluster(t, 2, srv.URL(), func(c *Config) {
		behaviourConfig(c)
		c.ConnTimeout = 60 * time.Second
	})
	subs := make([]subscriber, 2)
	for i, nd := range nodes {
		subs[i] = openWS(t, nd.URL, nd.Connect(fmt.Sprint("user", i), "room"))
		t.Cleanup(subs[i].Close)
	}
	send := func(via *testGateway, text string) (int, []byte) {
		code, body, err := via.post(nil, "POST", "/message", map[string]any{"channel": "room", "user": "s", "message": msgText(text)})
		if err != nil {
			t.Fatal(err)
		}
		return code, body
	}
	expectText := func(sub subscriber, want string) {
		t.Helper()
		seen := &presenceLog{actions: map[string][]string{}}
		seen.drain(t, sub, 15*time.Second, func() bool { return len(seen.texts) > 0 })
		if seen.texts[0] != want || len(seen.texts) != 1 {
			t.Fatalf("got %v, want [%s]", seen.texts, want)
		}
	}
	if code, body := send(nodes[0], "before"); code != http.StatusOK {
		t.Fatalf("before: %d %s", code, body)
	}
	for _, s := range subs {
		expectText(s, "before")
	}

	srv.Stop()
	for _, nd := range nodes {
		pollUntil(t, 10*time.Second, nd.URL+" unready", func() bool { return readyz(nd) == http.StatusServiceUnavailable })
		code, body := send(nd, "during")
		var e struct{ Error string }
		if code != http.StatusServiceUnavailable || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Fatalf("publish while Redis is away: %d %s, want 503 with an error", code, body)
		}
	}
	// The clients stay connected: heartbeats keep coming.
	for i, s := range subs {
		if batch, err := s.Next(5 * time.Second); err != nil || len(batch) != 0 {
			t.Fatalf("client %d while Redis is away: %v %v", i, batch, err)
		}
	}

	srv.Restart()
	for _, nd := range nodes {
		pollUntil(t, 15*time.Second, nd.URL+" ready again", func() bool { return readyz(nd) == http.StatusOK })
	}
	if code, body := send(nodes[1], "after"); code != http.StatusOK {
		t.Fatalf("after: %d %s", code, body)
	}
	for _, s := range subs {
		expectText(s, "after")
	}

	// The nodes wrote their state to the empty Redis: a node that starts
	// now holds the same users, connections and channels.
	shared, err := redisbroker.New(redisbroker.Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shared.Close() })
	pollUntil(t, 10*time.Second, "a snapshot in the restarted Redis", func() bool {
		id, _, err := shared.LoadSnapshot(t.Context())
		return err == nil && id != ""
	})
	late := startCluster(t, 1, srv.URL(), behaviourConfig)[0]
	want := adminView(t, nodes[0])
	pollUntil(t, 10*time.Second, "the late node to hold the cluster's state", func() bool { return adminView(t, late) == want })
}
