package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// The client library tests drive web/static/channelstream.js in headless
// Chromium through web/test/clientlib.mjs (playwright-core), a remote
// control that takes one JSON command per line. The tools are found (or the
// test skipped, outside CI) by browserTools in browser_test.go.

// clientlibWait is how long a page gets to reach an expected state.
const clientlibWait = 20 * time.Second

// clientlibBrowser is one Chromium (one browser context: its pages share
// BroadcastChannel and Web Locks as tabs do) under clientlib.mjs.
type clientlibBrowser struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when stdout ends

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan clientlibLine
	console []string
	stderr  bytes.Buffer
}

// clientlibLine is one line clientlib.mjs prints: an answer or an event.
type clientlibLine struct {
	ID      int             `json:"id"`
	OK      bool            `json:"ok"`
	Value   json.RawMessage `json:"value"`
	Error   string          `json:"error"`
	Event   string          `json:"event"`
	Page    string          `json:"page"`
	Text    string          `json:"text"`
	Browser string          `json:"browser"`
}

// startClientlibBrowser starts clientlib.mjs and its Chromium; both end in
// t.Cleanup, which also prints the pages' console when t failed.
func startClientlibBrowser(t *testing.T) *clientlibBrowser {
	t.Helper()
	node, webDir := browserTools(t)
	b := &clientlibBrowser{t: t, done: make(chan struct{}), waiting: map[int]chan clientlibLine{}}
	b.cmd = exec.Command(node, filepath.Join("test", "clientlib.mjs"))
	b.cmd.Dir = webDir
	b.cmd.Stderr = &syncWriter{mu: &b.mu, w: &b.stderr}
	var err error
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start clientlib.mjs: %v", err)
	}
	ready := make(chan string, 1)
	go b.read(stdout, ready)
	t.Cleanup(b.stop)
	select {
	case v := <-ready:
		t.Logf("Chromium %s", v)
	case <-b.done:
		t.Fatalf("clientlib.mjs ended before Chromium was ready: %s", b.stderrText())
	case <-time.After(30 * time.Second):
		t.Fatalf("Chromium not ready after 30 s: %s", b.stderrText())
	}
	return b
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (b *clientlibBrowser) stderrText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

func (b *clientlibBrowser) read(r io.Reader, ready chan<- string) {
	defer close(b.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var l clientlibLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			b.mu.Lock()
			b.console = append(b.console, "stdout: "+sc.Text())
			b.mu.Unlock()
			continue
		}
		switch l.Event {
		case "ready":
			ready <- l.Browser
		case "console":
			b.mu.Lock()
			b.console = append(b.console, fmt.Sprintf("[%s] %s", l.Page, l.Text))
			b.mu.Unlock()
		case "":
			b.mu.Lock()
			ch := b.waiting[l.ID]
			delete(b.waiting, l.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- l
			}
		}
	}
}

func (b *clientlibBrowser) stop() {
	_ = b.stdin.Close() // clientlib.mjs closes Chromium and exits
	select {
	case <-b.done:
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	_ = b.cmd.Wait()
	if b.t.Failed() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, l := range b.console {
			b.t.Logf("console %s", l)
		}
		if b.stderr.Len() > 0 {
			b.t.Logf("clientlib.mjs stderr:\n%s", b.stderr.Bytes())
		}
	}
}

// call sends one command and returns its value.
func (b *clientlibBrowser) call(cmd map[string]any, timeout time.Duration) (json.RawMessage, error) {
	ch := make(chan clientlibLine, 1)
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	b.waiting[id] = ch
	b.mu.Unlock()
	cmd["id"] = id
	line, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := b.stdin.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("write command: %w", err)
	}
	select {
	case l := <-ch:
		if !l.OK {
			return nil, fmt.Errorf("%s", l.Error)
		}
		return l.Value, nil
	case <-b.done:
		return nil, fmt.Errorf("clientlib.mjs ended: %s", b.stderrText())
	case <-time.After(timeout + 10*time.Second):
		return nil, fmt.Errorf("no answer to %s within %v", cmd["cmd"], timeout+10*time.Second)
	}
}

// Open loads url in a new page (a new tab) named page.
func (b *clientlibBrowser) Open(page, u string) {
	b.t.Helper()
	if _, err := b.call(map[string]any{"cmd": "open", "page": page, "url": u}, 20*time.Second); err != nil {
		b.t.Fatalf("open %s %s: %v", page, u, err)
	}
}

// Close closes the page, as closing its tab.
func (b *clientlibBrowser) Close(page string) {
	b.t.Helper()
	if _, err := b.call(map[string]any{"cmd": "close", "page": page}, 10*time.Second); err != nil {
		b.t.Fatalf("close %s: %v", page, err)
	}
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its JSON value into out (when not nil).
func (b *clientlibBrowser) Eval(page, js string, out any) {
	b.t.Helper()
	v, err := b.call(map[string]any{"cmd": "eval", "page": page, "js": js}, 10*time.Second)
	if err != nil {
		b.t.Fatalf("eval in %s: %s: %v", page, js, err)
	}
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			b.t.Fatalf("eval in %s: %s: decode %s: %v", page, js, v, err)
		}
	}
}

// Wait waits until the expression is truthy in the page; on time out it
// saves a screenshot and fails the test with the page's record.
func (b *clientlibBrowser) Wait(page, js string) {
	b.t.Helper()
	_, err := b.call(map[string]any{"cmd": "wait", "page": page, "js": js, "timeoutMs": clientlibWait.Milliseconds()}, clientlibWait)
	if err != nil {
		b.Screenshot(page, "timeout-"+page)
		state, _ := b.call(map[string]any{"cmd": "eval", "page": page, "js": "typeof summary === 'function' ? summary() : typeof rec !== 'undefined' ? rec : null"}, 5*time.Second)
		b.t.Fatalf("waiting in %s for %s: %v\npage state: %s", page, js, err, state)
	}
}

// Screenshot saves the page as <name>.png in the test's artifact
// directory (go test -artifacts keeps it).
func (b *clientlibBrowser) Screenshot(page, name string) {
	b.t.Helper()
	path := filepath.Join(b.t.ArtifactDir(), name+".png")
	if _, err := b.call(map[string]any{"cmd": "screenshot", "page": page, "path": path}, 10*time.Second); err != nil {
		b.t.Errorf("screenshot %s: %v", page, err)
		return
	}
	b.t.Logf("screenshot %s", path)
}

// clientlibApp is the web application of the tests, on its own origin, as
// upstream's demos are: it serves the pages, signs and forwards /connect,
// /subscribe, /unsubscribe, /user_state and /message to the node, proxies
// /static/ to the node, and has the broken network paths the fallbacks are
// tested against.
type clientlibApp struct {
	t   *testing.T
	tg  *testGateway
	URL string

	wsRefused   atomic.Int32 // /refuse/ws requests
	sseHeld     atomic.Int32 // /buffered/sse streams
	listenCalls atomic.Int32 // /flaky/listen requests
}

func newClientlibApp(t *testing.T, tg *testGateway) *clientlibApp {
	t.Helper()
	a := &clientlibApp{t: t, tg: tg}
	gw, err := url.Parse(tg.URL)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/static/", httputil.NewSingleHostReverseProxy(gw))
	mux.HandleFunc("/harness.html", a.harness)
	mux.HandleFunc("/upstream.html", a.upstream)
	for _, p := range []string{"/connect", "/subscribe", "/unsubscribe", "/user_state", "/message"} {
		mux.HandleFunc(p, a.forward)
	}
	mux.HandleFunc("/refuse/ws", func(w http.ResponseWriter, r *http.Request) {
		a.wsRefused.Add(1)
		http.Error(w, "WebSocket is not allowed here", http.StatusForbidden)
	})
	mux.HandleFunc("/buffered/sse", a.bufferedSSE)
	mux.HandleFunc("/flaky/listen", a.flakyListen)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// gatewayWS is the node's WebSocket URL.
func (a *clientlibApp) gatewayWS() string { return "ws" + strings.TrimPrefix(a.tg.URL, "http") + "/ws" }

// forward signs the browser's request and passes it to the node, as an
// application's views do. A single message object becomes a list with a
// sender (but a deletion, whose body takes no sender), as upstream's demo
// chat does.
func (a *clientlibApp) forward(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch r.URL.Path {
	case "/user_state":
		// The JS client sends {username, conn_id, update_state}; the API
		// takes {user, user_state}, as upstream's demo view translates.
		var in struct {
			Username    string         `json:"username"`
			UpdateState map[string]any `json:"update_state"`
		}
		if json.Unmarshal(body, &in) == nil {
			body, _ = json.Marshal(map[string]any{"user": in.Username, "user_state": in.UpdateState})
		}
	case "/message":
		var obj map[string]any
		if json.Unmarshal(body, &obj) == nil {
			if _, ok := obj["user"]; !ok && r.Method != http.MethodDelete {
				obj["user"] = "page"
			}
			body, _ = json.Marshal([]any{obj})
		}
	}
	code, answer, err := a.tg.nodeAPI().Call(r.Context(), r.Method, r.URL.Path, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(answer)
}

// bufferedSSE is a proxy in front of the node's /sse that buffers: it
// passes the headers at once but holds the body back until 64 KiB have
// come (never, in these tests), as a misconfigured reverse proxy does.
func (a *clientlibApp) bufferedSSE(w http.ResponseWriter, r *http.Request) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, a.tg.URL+"/sse?"+r.URL.RawQuery, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	a.sseHeld.Add(1)
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	http.NewResponseController(w).Flush()
	var held []byte
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		held = append(held, buf[:n]...)
		if len(held) >= 64<<10 {
			_, _ = w.Write(held)
			http.NewResponseController(w).Flush()
			held = held[:0]
		}
		if err != nil {
			return // the browser gave up (the request's context ended) or the node closed
		}
	}
}

// flakyListen passes long-polls to the node's /listen, except the second,
// which it answers 400 with a JSON body (upstream's client took any status
// up to 400 for a success and handed the body to listenMessageCallback).
func (a *clientlibApp) flakyListen(w http.ResponseWriter, r *http.Request) {
	if a.listenCalls.Add(1) == 2 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `[{"error": "not a frame"}]`)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, a.tg.URL+"/listen?"+r.URL.RawQuery, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// publish posts one message {"n": n} to channel through the signed API. It
// may run on any goroutine: errors are reported with Errorf.
func (a *clientlibApp) publish(channel string, n int) {
	msg := client.Message{User: "app", Channel: channel, Message: map[string]any{"n": n, "text": fmt.Sprintf("%s #%d", channel, n)}}
	if _, err := a.tg.nodeAPI().Send(context.Background(), msg); err != nil {
		a.t.Errorf("publish %s %d: %v", channel, n, err)
	}
}

// harness serves a page that loads the library (?lib=module: through
// channelstream.mjs) and records what a connection set up with
// setup({...properties}) does.
func (a *clientlibApp) harness(w http.ResponseWriter, r *http.Request) {
	load := `<script src="/static/channelstream.js"></script>
<script>window.libReady = typeof ChannelStreamConnection === 'function';</script>`
	if r.URL.Query().Get("lib") == "module" {
		load = `<script type="module">
import Default, { ChannelStreamConnection, ChannelStreamSigner } from '/static/channelstream.mjs';
window.ChannelStreamConnection = ChannelStreamConnection;
window.ChannelStreamSigner = ChannelStreamSigner;
window.moduleDefaultOK = Default === ChannelStreamConnection;
window.libReady = true;
</script>`
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = fmt.Fprintf(w, clientlibHarness, load)
}

const clientlibHarness = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>channelstream.js harness</title>
<style>body{font:13px/1.4 monospace;margin:12px} #status{font-weight:bold} .gap{color:#a00}</style>
%s
</head><body>
<h3>channelstream.js</h3><div id="status">loading</div><pre id="log"></pre>
<script>
var t0 = performance.now();
function ev(what) { rec.events.push(Math.round(performance.now() - t0) + 'ms ' + what); }
window.rec = {events: [], msgs: [], lists: 0, heartbeats: 0, gaps: [], opened: [], closes: 0, errors: [], connects: 0, connIds: [], channels: []};
function summary() {
  var c = window.conn || {};
  return {transport: c.currentTransport, connected: c.connected, connectionId: c.connectionId, lastSeq: c.lastSeq,
    role: c.sharedRole, channels: c.channels, msgs: rec.msgs.length, ns: rec.msgs.filter(function (m) { return m.type === 'message'; }).map(function (m) { return m.channel + ':' + m.message.n; }),
    gaps: rec.gaps, opened: rec.opened, closes: rec.closes, errors: rec.errors.slice(-10), connects: rec.connects, events: rec.events};
}
function show() {
  var s = summary();
  document.getElementById('status').textContent = (s.connected ? 'connected via ' + s.transport : 'not connected') +
    (s.role ? ' (' + s.role + ')' : '') + ', conn ' + s.connectionId + ', last seq ' + s.lastSeq + ', channels ' + (s.channels || []).join(',');
  document.getElementById('log').textContent = rec.msgs.slice(-40).map(function (m) { return JSON.stringify(m); }).join('\n');
}
function errText(r, d) {
  if (r && typeof r.status === 'number') return 'status ' + r.status;
  return String(d && d.message ? d.message : d);
}
window.setup = function (opts) {
  var c = new ChannelStreamConnection();
  for (var k in opts) c[k] = opts[k];
  c.listenMessageCallback = function (list) {
    rec.lists++;
    if (!list.length) rec.heartbeats++;
    list.forEach(function (m) { rec.msgs.push(m); });
    if (list.length) ev('frame ' + list.map(function (m) { return m.seq; }).join(','));
    show();
  };
  c.gapCallback = function (g) { rec.gaps.push(g); ev('gap ' + JSON.stringify(g)); show(); };
  c.listenOpenedCallback = function () { rec.opened.push(c.currentTransport); ev('opened ' + c.currentTransport); show(); };
  c.listenCloseCallback = function () { rec.closes++; ev('closed'); show(); };
  c.listenErrorCallback = function (r, d) { rec.errors.push(errText(r, d)); ev('error ' + errText(r, d)); };
  c.connectCallback = function (r, data) { rec.connects++; rec.connIds.push(data && data.conn_id); ev('connected ' + (data && data.conn_id)); show(); };
  c.connectErrorCallback = function (r, d) { rec.errors.push('connect: ' + errText(r, d)); };
  c.channelsChangedCallback = function (ch) { rec.channels.push(ch); show(); };
  window.conn = c;
  c.connect();
  return true;
};
// ns lists the n of every message received on channel, in arrival order.
window.ns = function (channel) {
  return rec.msgs.filter(function (m) { return m.type === 'message' && m.channel === channel; }).map(function (m) { return m.message.n; });
};
</script>
</body></html>
`

// upstream serves a page written against upstream's API only, the way
// its README and demos use it: the application's URLs for the REST calls,
// the node's for the transports and /disconnect.
func (a *clientlibApp) upstream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = fmt.Fprintf(w, clientlibUpstreamPage, a.gatewayWS(), a.tg.URL+"/listen", a.tg.URL+"/disconnect")
}

const clientlibUpstreamPage = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>upstream-style page</title>
<style>body{font:13px/1.4 monospace;margin:12px}</style>
<script src="/static/channelstream/channelstream.js"></script>
</head><body>
<h3>upstream-style page</h3><div id="status"></div><pre id="log"></pre>
<script>
var rec = {events: [], received: [], channels: null, connId: null, posted: null, edited: null, deleted: null, state: null, unsubscribed: null, disconnected: null};
function log(what) { rec.events.push(what); document.getElementById('log').textContent = rec.events.join('\n'); }

var connection = new ChannelStreamConnection();
connection.connectUrl = '/connect';
connection.subscribeUrl = '/subscribe';
connection.unsubscribeUrl = '/unsubscribe';
connection.userStateUrl = '/user_state';
connection.messageUrl = '/message';
connection.messageEditUrl = '/message';
connection.messageDeleteUrl = '/message';
connection.websocketUrl = '%s';
connection.longPollUrl = '%s';
connection.disconnectUrl = '%s';
connection.username = 'alice';
connection.channels = ['news'];

connection.listenMessageCallback = function (messages) {
  for (var i = 0; i < messages.length; i++) {
    rec.received.push(messages[i]);
    log('message ' + messages[i].type + ' ' + JSON.stringify(messages[i].message || null));
  }
};
connection.listenOpenedCallback = function () { log('opened'); document.getElementById('status').textContent = 'connected'; };
connection.connectCallback = function (request, data) {
  rec.connId = data.conn_id;
  log('connected as ' + data.username + ' ' + data.conn_id + ' status ' + request.status);
  connection.subscribe(connection.calculateSubscribe(['news', 'sports']));
};
connection.channelsChangedCallback = function (channels) { rec.channels = channels.slice(); log('channels ' + channels.join(',')); };
connection.subscribeCallback = function (request, data) {
  log('subscribed to ' + data.subscribed_to.join(','));
  connection.message({channel: 'sports', message: {text: 'hello from the page'}});
};
connection.messageCallback = function (request, data) { rec.posted = data; log('posted ' + data[0].uuid); };
connection.messageEditCallback = function (request, data) { rec.edited = data; log('edited'); };
connection.messageDeleteCallback = function (request, data) { rec.deleted = data; log('deleted'); };
connection.setUserStateCallback = function (request, data) { rec.state = data; log('state ' + JSON.stringify(data.user_state)); };
connection.unsubscribeCallback = function (request, data) { rec.unsubscribed = data; log('unsubscribed from ' + data.unsubscribed_from.join(',')); };
connection.disconnectCallback = function (request, data) { rec.disconnected = data; log('disconnected ' + data); };
connection.connect();
</script>
</body></html>
`
