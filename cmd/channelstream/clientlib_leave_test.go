package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// awaitPartedOf reads sub until presence "parted" of user arrives and
// returns when it did; it fails the test after within.
func awaitPartedOf(t *testing.T, sub subscriber, user string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		batch, err := sub.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("no parted of %s within %v: %v", user, within, err)
		}
		for _, f := range batch {
			if f.Type() == "presence" && f.Str("user") == user && f.Obj("message")["action"] == "parted" {
				return time.Now()
			}
		}
	}
}

// leaveEnv starts a node whose connections live an hour unless they
// leave, an application, a browser, and a watcher in channel "lobby" (with
// presence) that sees who parts.
func leaveEnv(t *testing.T) (*testGateway, *clientlibApp, *clientlibBrowser, subscriber) {
	t.Helper()
	tg := startGateway(t, func(c *Config) { c.ConnTimeout = time.Hour })
	app := newClientlibApp(t, tg)
	b := startClientlibBrowser(t) // started last: closed first
	if code, body := tg.Call("POST", "/channel_config", map[string]any{"lobby": map[string]any{"notify_presence": true}}); code != http.StatusOK {
		t.Fatalf("channel_config: %d %s", code, body)
	}
	return tg, app, b, openWS(t, tg.URL, tg.Connect("watcher", "lobby"))
}

// A tab closed in Chromium makes its user leave the others' lists at once
// on every transport (conn_timeout is an hour here): the client library
// closes the WebSocket with 1000 (the browser would send 1001) or, for SSE
// and long-poll, posts the pagehide beacon to /disconnect.
func TestClientlibClosedTabLeavesAtOnce(t *testing.T) {
	t.Parallel()
	tg, app, b, watcher := leaveEnv(t)
	for _, tr := range []string{"websocket", "sse", "longpoll"} {
		page, user := "tab-"+tr, "leaver-"+tr
		b.Open(page, app.URL+"/harness.html")
		b.Wait(page, "window.libReady")
		b.Eval(page, fmt.Sprintf(`setup({connectUrl: '/connect', username: %q, channels: ['lobby'], transport: %q,
			websocketUrl: %q, longPollUrl: %q})`, user, tr, app.gatewayWS(), tg.URL+"/listen"), nil)
		b.Wait(page, fmt.Sprintf("conn.connected && conn.currentTransport === %q", tr))
		id := clientlibSummary(b, page).ConnectionID
		closed := time.Now()
		b.Close(page)
		took := awaitPartedOf(t, watcher, user, 5*time.Second).Sub(closed)
		if took > time.Second {
			t.Errorf("%s: parted %v after the tab closed, want within 1s", tr, took)
		}
		if tg.g.hub.HasConn(id) {
			t.Errorf("%s: the closed tab's connection is still on the node", tr)
		}
		t.Logf("%s: parted %v after the tab closed", tr, took.Round(time.Millisecond))
	}
}

// With sharedConnection, a follower tab that closes leaves the shared
// connection to the others; the last tab, the leader alone, takes it with
// it at once.
func TestClientlibSharedTabsLeaveTogether(t *testing.T) {
	t.Parallel()
	tg, app, b, watcher := leaveEnv(t)
	setup := func(page string) {
		b.Open(page, app.URL+"/harness.html")
		b.Wait(page, "window.libReady")
		b.Eval(page, fmt.Sprintf(`setup({connectUrl: '/connect', username: 'erin', channels: ['lobby'], sharedConnection: true,
			websocketUrl: %q, longPollUrl: %q})`, app.gatewayWS(), tg.URL+"/listen"), nil)
	}
	setup("leader")
	b.Wait("leader", "conn.sharedRole === 'leader' && conn.connected")
	setup("follower")
	b.Wait("follower", "conn.sharedRole === 'follower' && conn.connected")
	id := clientlibSummary(b, "leader").ConnectionID

	b.Close("follower")
	b.Wait("leader", "Object.keys(conn._group.peers).length === 0") // the follower's bye
	app.publish("lobby", 1)
	b.Wait("leader", "ns('lobby').length >= 1")
	if !tg.g.hub.HasConn(id) {
		t.Fatal("a follower's closed tab removed the shared connection")
	}
	closed := time.Now()
	b.Close("leader")
	took := awaitPartedOf(t, watcher, "erin", 5*time.Second).Sub(closed)
	if took > time.Second {
		t.Errorf("parted %v after the last tab closed, want within 1s", took)
	}
	t.Logf("parted %v after the last shared tab closed", took.Round(time.Millisecond))
}
