package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// The client library (web/static/channelstream.js) in headless Chromium
// against a whole node; helpers in clientlib_helpers_test.go.

// clientlibRecord is the harness page's summary().
type clientlibRecord struct {
	Transport    string           `json:"transport"`
	Connected    bool             `json:"connected"`
	ConnectionID string           `json:"connectionId"`
	LastSeq      uint64           `json:"lastSeq"`
	Role         string           `json:"role"`
	Channels     []string         `json:"channels"`
	Msgs         int              `json:"msgs"`
	Gaps         []map[string]any `json:"gaps"`
	Opened       []string         `json:"opened"`
	Closes       int              `json:"closes"`
	Errors       []string         `json:"errors"`
	Connects     int              `json:"connects"`
	Events       []string         `json:"events"`
}

func clientlibSummary(b *clientlibBrowser, page string) clientlibRecord {
	b.t.Helper()
	var r clientlibRecord
	b.Eval(page, "summary()", &r)
	return r
}

// clientlibExactlyOnce checks that the page received messages 1..total on
// channel, each once, in order, with increasing seqs and no gap.
func clientlibExactlyOnce(t *testing.T, b *clientlibBrowser, page, channel string, total int) {
	t.Helper()
	var got []int
	b.Eval(page, fmt.Sprintf("ns(%q)", channel), &got)
	want := make([]int, total)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s received on %s %v, want 1..%d each once in order", page, channel, got, total)
	}
	var seqOK bool
	b.Eval(page, `rec.msgs.every(function (m, i, a) { return typeof m.seq === 'number' && (i === 0 || m.seq > a[i-1].seq); })`, &seqOK)
	if !seqOK {
		t.Errorf("%s: seqs are missing or not increasing", page)
	}
	if r := clientlibSummary(b, page); len(r.Gaps) > 0 {
		t.Errorf("%s: gaps %v", page, r.Gaps)
	}
}

func clientlibWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clientlibWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clientlibAttached counts the transports attached to the node.
func clientlibAttached(tg *testGateway) (ws, sse, longpoll int) {
	return tg.g.ws.Open(), tg.g.sse.Active(), tg.g.longpoll.Pending()
}

func TestClientlibUpstreamStylePageWorksUnchanged(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	app := newClientlibApp(t, tg)
	b := startClientlibBrowser(t) // started last: closed first

	b.Open("page", app.URL+"/upstream.html")
	b.Wait("page", `rec.received.some(function (m) { return m.type === 'message' && m.message.text === 'hello from the page'; })`)
	var connID string
	b.Eval("page", "rec.connId", &connID)
	if !tg.g.hub.HasConn(connID) {
		t.Fatalf("the node does not know the page's conn_id %q", connID)
	}
	var transport string
	b.Eval("page", "connection.currentTransport", &transport)
	if transport != "websocket" {
		t.Errorf("transport %q, want websocket (upstream's default)", transport)
	}

	// A message from the application side reaches the page.
	app.publish("news", 1)
	b.Wait("page", `rec.received.some(function (m) { return m.channel === 'news' && m.message.n === 1; })`)

	// Edit, delete and user state through the application's views.
	b.Eval("page", `(function () {
		var uuid = rec.posted[0].uuid;
		connection.edit({uuid: uuid, channel: 'sports', message: {text: 'edited'}});
		connection.delete({uuid: uuid, channel: 'sports'});
		connection.updateUserState({color: 'red'});
		return true; })()`, nil)
	b.Wait("page", `rec.received.some(function (m) { return m.type === 'message:edit' && m.message.text === 'edited'; }) &&
		rec.received.some(function (m) { return m.type === 'message:delete'; }) && rec.edited && rec.deleted && rec.state`)
	var color string
	b.Eval("page", "rec.state.user_state.color", &color)
	if color != "red" {
		t.Errorf("user state color %q, want red", color)
	}
	var channels []string
	b.Eval("page", "rec.channels", &channels)
	if !slices.Equal(channels, []string{"news", "sports"}) {
		t.Errorf("channels %v, want [news sports]", channels)
	}

	b.Eval("page", "connection.unsubscribe(['sports']), true", nil)
	b.Wait("page", "rec.unsubscribed && connection.channels.join() === 'news'")
	b.Screenshot("page", "upstream-page")

	b.Eval("page", "connection.disconnect(), true", nil)
	b.Wait("page", "rec.disconnected === true && connection.connected === false")
	clientlibWaitFor(t, "the node to drop the connection", func() bool { return !tg.g.hub.HasConn(connID) })
	time.Sleep(300 * time.Millisecond)
	var connects int
	b.Eval("page", "rec.events.filter(function (e) { return e.indexOf('connected as') === 0; }).length", &connects)
	if connects != 1 {
		t.Errorf("%d connects, want 1: closeConnection must not reconnect", connects)
	}
}

func TestClientlibSignerModuleAndBackoff(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	app := newClientlibApp(t, tg)
	b := startClientlibBrowser(t) // started last: closed first

	b.Open("page", app.URL+"/harness.html?lib=module")
	b.Wait("page", "window.libReady")
	var ok bool
	b.Eval("page", "window.moduleDefaultOK", &ok)
	if !ok {
		t.Error("the default export of channelstream.mjs is not ChannelStreamConnection")
	}
	var vectors []string
	b.Eval("page", `Promise.all([
		new ChannelStreamSigner('secret').signRequest(undefined, 1600000000),
		new ChannelStreamSigner('secret').signRequest('/connect', 1600000000)])`, &vectors)
	want := []string{"channelstream.X14QAA.QLT3kgcJYg14C3PAy4wtyg5uGgI", "/connect.X14QAA.SPM6sHtinEBU8MmBZnatiO-Vq0A"}
	if !slices.Equal(vectors, want) {
		t.Errorf("signRequest gave %q, want the itsdangerous vectors %q", vectors, want)
	}
	var token string
	b.Eval("page", fmt.Sprintf("new ChannelStreamSigner(%q).signRequest()", tg.Secret), &token)
	req, _ := http.NewRequest(http.MethodPost, tg.URL+"/info", nil)
	req.Header.Set("X-Channelstream-Secret", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the node answered %d to the browser's token %q", resp.StatusCode, token)
	}
	b.Screenshot("page", "module")

	// The reconnect delays: up to increaseBounceIv/2 at first, then
	// doubling from increaseBounceIv to maxBounceIv, jittered over the upper
	// half; a transport that works starts them over.
	var bounds [2][]int
	b.Eval("page", `(function () {
		var c = new ChannelStreamConnection(), random = Math.random, out = [];
		[0, 1].forEach(function (r) {
			Math.random = function () { return r; };
			var d = [];
			for (var i = 0; i < 9; i++) { c._attempt = i; d.push(Math.round(c._nextDelay())); }
			out.push(d);
		});
		Math.random = random;
		c._attempt = 5; c._stable(); out[0].push(c._attempt);
		return out; })()`, &bounds)
	wantLow := []int{0, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 0}
	wantHigh := []int{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000}
	if !slices.Equal(bounds[0], wantLow) || !slices.Equal(bounds[1], wantHigh) {
		t.Errorf("delays from %v to %v (then attempt %v after a working transport); want from %v to %v, then 0",
			bounds[0][:9], bounds[1], bounds[0][9:], wantLow[:9], wantHigh)
	}
}

func TestClientlibFallsBackToSSEWhenWebSocketIsRefused(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	app := newClientlibApp(t, tg)
	b := startClientlibBrowser(t) // started last: closed first

	b.Open("page", app.URL+"/harness.html")
	b.Eval("page", fmt.Sprintf(`setup({connectUrl: '/connect', username: 'bob', channels: ['b'],
		websocketUrl: %q, longPollUrl: %q})`, "ws"+strings.TrimPrefix(app.URL, "http")+"/refuse/ws", tg.URL+"/listen"), nil)
	b.Wait("page", "conn.currentTransport === 'sse'")
	for n := 1; n <= 5; n++ {
		app.publish("b", n)
	}
	b.Wait("page", "ns('b').length >= 5")
	b.Screenshot("page", "sse")
	clientlibExactlyOnce(t, b, "page", "b", 5)
	r := clientlibSummary(b, "page")
	if !slices.Equal(r.Opened, []string{"sse"}) {
		t.Errorf("opened %v, want [sse] (sseUrl derived from longPollUrl)", r.Opened)
	}
	if app.wsRefused.Load() == 0 {
		t.Error("the page never tried the WebSocket")
	}
	if ws, sse, _ := clientlibAttached(tg); ws != 0 || sse != 1 {
		t.Errorf("node: %d WebSocket, %d SSE attached; want 0, 1", ws, sse)
	}

	// The node forgets the connection: the client finds out (404 unknown
	// connection on its resume), connects anew and stays on SSE.
	if ok, _ := tg.g.hub.Disconnect(context.Background(), r.ConnectionID); !ok {
		t.Fatalf("the node did not know %s", r.ConnectionID)
	}
	b.Wait("page", "rec.connects === 2 && conn.currentTransport === 'sse'")
	app.publish("b", 6)
	b.Wait("page", "ns('b').length >= 6")
	r = clientlibSummary(b, "page")
	if !slices.Equal(r.Opened, []string{"sse", "sse"}) || app.wsRefused.Load() != 1 {
		t.Errorf("opened %v after %d WebSocket attempts; want [sse sse] after 1 (the working transport is kept)", r.Opened, app.wsRefused.Load())
	}
	t.Logf("page events: %q", r.Events)
}

func TestClientlibFallsBackToLongPollWhenSSEIsBuffered(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	app := newClientlibApp(t, tg)
	b := startClientlibBrowser(t) // started last: closed first

	b.Open("page", app.URL+"/harness.html")
	b.Eval("page", fmt.Sprintf(`setup({connectUrl: '/connect', username: 'carol', channels: ['c'],
		websocketUrl: %q, sseUrl: '/buffered/sse', longPollUrl: '/flaky/listen'})`, "ws"+strings.TrimPrefix(app.URL, "http")+"/refuse/ws"), nil)
	// Published while the SSE stream is stuck in the proxy: the frames it
	// swallowed come again on the long-poll, which resumes from seq 0.
	clientlibWaitFor(t, "the SSE attempt", func() bool { return app.sseHeld.Load() > 0 })
	for n := 1; n <= 3; n++ {
		app.publish("c", n)
	}
	b.Wait("page", "conn.currentTransport === 'longpoll' && ns('c').length >= 3")
	// The second poll fails (400): the client does not take it for frames,
	// and retries instead of stopping.
	for n := 4; n <= 6; n++ {
		app.publish("c", n)
		time.Sleep(50 * time.Millisecond)
	}
	b.Wait("page", "ns('c').length >= 6")
	b.Screenshot("page", "longpoll")
	time.Sleep(300 * time.Millisecond) // nothing more may come
	clientlibExactlyOnce(t, b, "page", "c", 6)
	r := clientlibSummary(b, "page")
	if len(r.Opened) < 2 || r.Opened[0] != "longpoll" || r.Opened[1] != "longpoll" {
		t.Errorf("opened %v, want longpoll, then longpoll again after the 400", r.Opened)
	}
	if !slices.Contains(r.Errors, "status 400") {
		t.Errorf("errors %v: the 400 was not reported to listenErrorCallback", r.Errors)
	}
	var foreign int
	b.Eval("page", "rec.msgs.filter(function (m) { return !m.type; }).length", &foreign)
	if foreign > 0 {
		t.Errorf("%d objects of the 400 answer reached listenMessageCallback", foreign)
	}
	if r.Connects != 1 {
		t.Errorf("%d connects, want 1", r.Connects)
	}
	if n := app.listenCalls.Load(); n < 3 {
		t.Errorf("%d polls, want at least 3", n)
	}
	t.Logf("page events: %q", r.Events)
}

func TestClientlibResumesAfterTheServerEndsSessions(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	app := newClientlibApp(t, tg)
	b := startClientlibBrowser(t) // started last: closed first

	transports := []string{"websocket", "sse", "longpoll"}
	for _, tr := range transports {
		b.Open(tr, app.URL+"/harness.html")
		b.Eval(tr, fmt.Sprintf(`setup({connectUrl: '/connect', username: 'resume-%s', channels: ['r-%s'],
			transport: %q, websocketUrl: %q, sseUrl: %q, longPollUrl: %q})`,
			tr, tr, tr, app.gatewayWS(), tg.URL+"/sse", tg.URL+"/listen"), nil)
	}
	for _, tr := range transports {
		b.Wait(tr, fmt.Sprintf("conn.currentTransport === %q", tr))
	}

	// Three bursts; after the first two the hub ends every session
	// mid-stream, and the next burst starts while the transports are gone.
	// Before a further cut the streaming transports must be back.
	const total, burst = 30, 10
	reattached := func(times int) {
		for _, tr := range []string{"websocket", "sse"} {
			b.Wait(tr, fmt.Sprintf("rec.opened.length >= %d", times))
		}
	}
	for n := 1; n <= total; n++ {
		for _, tr := range transports {
			app.publish("r-"+tr, n)
		}
		switch {
		case n%burst == 0 && n < total:
			ended := tg.g.hub.EndSessions(core.DisconnectReplaced)
			t.Logf("%v after message %d the hub ended %d sessions", time.Now().Format("15:04:05.000"), n, ended)
		case n%burst == burst/2 && n > burst:
			reattached(n/burst + 1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			b.Wait(tr, fmt.Sprintf("ns('r-%s').length >= %d", tr, total))
			time.Sleep(200 * time.Millisecond)
			b.Screenshot(tr, "resume-"+tr)
			clientlibExactlyOnce(t, b, tr, "r-"+tr, total)
			r := clientlibSummary(b, tr)
			t.Logf("events %q", r.Events)
			if r.Connects != 1 {
				t.Errorf("%d connects, want 1: the same connection must be resumed", r.Connects)
			}
			if tr != "longpoll" && len(r.Opened) < 3 {
				// A poll ended by the hub just answers; the others reattach.
				t.Errorf("opened %v, want the transport reattached after each cut", r.Opened)
			}
		})
	}
}

func TestClientlibSharedConnectionOnePerBrowser(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	app := newClientlibApp(t, tg)
	b := startClientlibBrowser(t) // started last: closed first
	setup := func(page, channel string) {
		b.Open(page, app.URL+"/harness.html?lib=module")
		b.Wait(page, "window.libReady")
		b.Eval(page, fmt.Sprintf(`setup({connectUrl: '/connect', subscribeUrl: '/subscribe', username: 'dora', channels: [%q],
			sharedConnection: true, websocketUrl: %q, longPollUrl: %q})`, channel, app.gatewayWS(), tg.URL+"/listen"), nil)
	}
	setup("a", "s1")
	b.Wait("a", "conn.sharedRole === 'leader' && conn.connected")
	setup("b", "s2")
	b.Wait("b", "conn.sharedRole === 'follower' && conn.connected && conn.channels.join() === 's1,s2'")
	b.Wait("a", "conn.channels.join() === 's1,s2'")

	ra, rb := clientlibSummary(b, "a"), clientlibSummary(b, "b")
	if ra.ConnectionID == "" || ra.ConnectionID != rb.ConnectionID {
		t.Fatalf("connections %q and %q, want one shared", ra.ConnectionID, rb.ConnectionID)
	}
	if rb.Transport != "websocket" {
		t.Errorf("the follower reports transport %q, want the leader's websocket", rb.Transport)
	}
	if n := tg.g.hub.Admin(context.Background()).TotalConnections; n != 1 {
		t.Errorf("%d connections on the node, want 1", n)
	}
	if ws, sse, lp := clientlibAttached(tg); ws != 1 || sse != 0 || lp != 0 {
		t.Errorf("node: %d WebSocket, %d SSE, %d long-poll attached; want 1, 0, 0", ws, sse, lp)
	}

	for n := 1; n <= 5; n++ {
		app.publish("s1", n)
		app.publish("s2", n)
	}
	for _, p := range []string{"a", "b"} {
		b.Wait(p, "ns('s1').length >= 5 && ns('s2').length >= 5")
	}
	b.Screenshot("a", "shared-leader")
	b.Screenshot("b", "shared-follower")

	// The leader's tab closes: the follower takes the same connection over
	// and misses nothing published meanwhile.
	b.Close("a")
	for n := 6; n <= 10; n++ {
		app.publish("s1", n)
		app.publish("s2", n)
	}
	b.Wait("b", "conn.sharedRole === 'leader' && conn.connected && ns('s1').length >= 10 && ns('s2').length >= 10")
	time.Sleep(300 * time.Millisecond)
	b.Screenshot("b", "shared-new-leader")
	var s1, s2 []int
	b.Eval("b", "ns('s1')", &s1)
	b.Eval("b", "ns('s2')", &s2)
	want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if !slices.Equal(s1, want) || !slices.Equal(s2, want) {
		t.Errorf("the follower received s1 %v, s2 %v; want 1..10 each once", s1, s2)
	}
	if rb2 := clientlibSummary(b, "b"); rb2.ConnectionID != ra.ConnectionID || rb2.Connects != 1 {
		t.Errorf("after the takeover: connection %q (%d connects), want %q (1)", rb2.ConnectionID, rb2.Connects, ra.ConnectionID)
	}
	if n := tg.g.hub.Admin(context.Background()).TotalConnections; n != 1 {
		t.Errorf("%d connections on the node after the takeover, want 1", n)
	}
	clientlibWaitFor(t, "one attached transport", func() bool { ws, sse, lp := clientlibAttached(tg); return ws+sse+lp == 1 })
}
