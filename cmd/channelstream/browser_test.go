package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The browser test: headless Chromium's own WebSocket, EventSource and
// fetch against a whole node, with web/test/transports.mjs (playwright-core)
// driving the page. Tools: /usr/bin/chromium (Debian's chromium) and
// web/node_modules/playwright-core (npm ci --prefix web); .ci/deps.sh
// installs both.
const (
	browserChromium   = "/usr/bin/chromium"
	browserBurst      = 10 // messages per burst
	browserHeartbeat  = 500 * time.Millisecond
	browserRunTimeout = 60 * time.Second
	// browserPublishPace spaces the messages of a burst, so that a cut
	// after the burst's fifth message lands while frames are on the wire.
	browserPublishPace = 2 * time.Millisecond
	// browserBlackholeLinger is the longest a blackholed path stays up
	// waiting for the node to send into it before the reset.
	browserBlackholeLinger = 3 * time.Second
)

// browserCuts is one burst each: "" publishes without a cut, "server" has
// the hub end the session (WebSocket close 4000, SSE response ended,
// long-poll answered at once), "client" has the page abort its own
// transport (WebSocket close, EventSource close, fetch abort), "proxy" has
// the TCP proxy between the browser and the node swallow what the node
// sends, then reset every connection.
var browserCuts = []string{"", "server", "", "client", "", "proxy"}

// browserTransports maps the page's names to the hub's transport names.
var browserTransports = map[string]string{"websocket": "websocket", "sse": "sse", "longpoll": "longpoll"}

// browserTools returns node and the web directory, skipping the test when
// a tool is missing, or failing it when CI is set (make test installs them).
func browserTools(t *testing.T) (node, webDir string) {
	t.Helper()
	webDir, err := filepath.Abs(filepath.Join("..", "..", "web"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	if _, err := os.Stat(browserChromium); err != nil {
		missing = append(missing, browserChromium+" (apt-get install chromium)")
	}
	if _, err := os.Stat(filepath.Join(webDir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "web/node_modules/playwright-core (npm ci --prefix web)")
	}
	node, err = exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (Node.js 20 or later)")
	}
	if len(missing) > 0 {
		msg := "browser test needs " + strings.Join(missing, ", ") + "; bash .ci/deps.sh installs them"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, where make test installs them: failing)")
		}
		t.Skip(msg)
	}
	return node, webDir
}

func TestBrowserTransportsResumeWithoutLossOrDuplicates(t *testing.T) {
	node, webDir := browserTools(t)
	tg := startGateway(t, func(c *Config) {
		c.HeartbeatInterval = browserHeartbeat
		c.LongpollTimeout = 2 * time.Second
		c.LongpollGather = 10 * time.Millisecond
	})

	// The page is on another origin: EventSource needs this to read /sse.
	browserCheckSSECORS(t, tg)

	type target struct {
		ConnID  string `json:"connID"`
		Channel string `json:"channel"`
		Gateway string `json:"gateway"`
	}
	proxies := map[string]*browserProxy{}
	targets := map[string]target{}
	for name := range browserTransports {
		p := newBrowserProxy(t, strings.TrimPrefix(tg.URL, "http://"))
		proxies[name] = p
		ch := "browser-" + name
		targets[name] = target{ConnID: tg.Connect("browser-"+name+"-user", ch), Channel: ch, Gateway: p.URL}
	}
	ctl := &browserControl{t: t, tg: tg, proxies: proxies, channels: map[string]string{}}
	for name, tgt := range targets {
		ctl.channels[name] = tgt.Channel
	}
	page := httptest.NewServer(ctl)
	t.Cleanup(page.Close)

	cfg := map[string]any{
		"pageURL":     page.URL + "/",
		"controlURL":  page.URL + "/control",
		"transports":  targets,
		"burst":       browserBurst,
		"heartbeatMs": browserHeartbeat.Milliseconds(),
		"cuts":        browserCuts,
		"timeoutMs":   (browserRunTimeout - 5*time.Second).Milliseconds(),
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stdout, runErr := browserRunScript(t, node, webDir, "transports.mjs", "CS_BROWSER_CONFIG", cfgJSON, browserRunTimeout)
	var res browserResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("transports.mjs printed no JSON result (%v): %s", err, stdout)
	}
	t.Logf("browser %s, page run %d ms", res.Browser, res.ElapsedMs)
	for _, line := range res.Console {
		t.Logf("console %s", line)
	}
	for _, p := range res.Problems {
		t.Errorf("page reports: %s", p)
	}

	total := browserBurst * len(browserCuts)
	for _, name := range []string{"websocket", "sse", "longpoll"} {
		t.Run(name, func(t *testing.T) {
			st, ok := res.Transports[name]
			if !ok {
				t.Fatalf("no result for %s", name)
			}
			st.check(t, name, total, ctl.published(name), proxies[name].requests())
		})
	}
	if runErr != nil && !t.Failed() {
		t.Errorf("transports.mjs: %v", runErr)
	}
}

// browserRunScript runs node web/test/<script> with cfg (JSON) in the
// environment variable env, bounded by timeout, logs how it ended and what
// it printed on stderr, and returns its standard output, trimmed, and how
// it ended (nil: exit 0).
func browserRunScript(t *testing.T, node, webDir, script, env string, cfg []byte, timeout time.Duration) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", script))
	cmd.Dir = webDir
	cmd.Env = append(os.Environ(), env+"="+string(cfg))
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	status := "exit 0"
	if runErr != nil {
		status = runErr.Error()
	}
	t.Logf("node web/test/%s: %s in %v", script, status, time.Since(start).Round(time.Millisecond))
	if stderr.Len() > 0 {
		t.Logf("stderr:\n%s", stderr.Bytes())
	}
	return bytes.TrimSpace(stdout.Bytes()), runErr
}

// runBrowserPage runs a page script (web/test/<script>) that prints
// {ok, problems, steps, browser, elapsedMs, console}, logs its steps and
// console, fails t with each problem (prefixed by what) or, without any,
// with how the script ended, and checks that it wrote the PNG shot.
func runBrowserPage(t *testing.T, node, webDir, script, env, what string, cfg []byte, timeout time.Duration, shot string) []byte {
	t.Helper()
	stdout, runErr := browserRunScript(t, node, webDir, script, env, cfg, timeout)
	var res struct {
		Problems  []string `json:"problems"`
		Steps     []string `json:"steps"`
		Browser   string   `json:"browser"`
		ElapsedMs int64    `json:"elapsedMs"`
		Console   []string `json:"console"`
	}
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("%s printed no JSON result (%v): %s", script, err, stdout)
	}
	t.Logf("browser %s, page run %d ms", res.Browser, res.ElapsedMs)
	for _, s := range res.Steps {
		t.Logf("step %s", s)
	}
	for _, line := range res.Console {
		t.Logf("console %s", line)
	}
	for _, p := range res.Problems {
		t.Errorf("%s: %s", what, p)
	}
	if runErr != nil && !t.Failed() {
		t.Errorf("%s: %v", script, runErr)
	}
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, len(png))
	}
	return png
}

// browserCheckSSECORS opens /sse with an Origin, as EventSource does from
// another origin, and checks the response lets the page read it.
func browserCheckSSECORS(t *testing.T, tg *testGateway) {
	id := tg.Connect("browser-cors-user")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, tg.URL+"/sse?conn_id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "http://page.example")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
	}
	if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, "text/event-stream") {
		t.Errorf("Content-Type = %q", got)
	}
	if code, b := tg.Call("POST", "/disconnect", map[string]any{"conn_id": id}); code != http.StatusOK {
		t.Errorf("disconnect: %d %s", code, b)
	}
}

// browserResult is what transports.mjs prints.
type browserResult struct {
	OK         bool                      `json:"ok"`
	Problems   []string                  `json:"problems"`
	Browser    string                    `json:"browser"`
	ElapsedMs  int64                     `json:"elapsedMs"`
	Console    []string                  `json:"console"`
	Transports map[string]browserPageRun `json:"transports"`
}

// browserPageRun is one transport's record in the page.
type browserPageRun struct {
	Received       [][4]any         `json:"received"` // n, seq, catchup, text
	Gaps           []map[string]any `json:"gaps"`
	LastSeq        uint64           `json:"lastSeq"`
	SeqRegressions [][2]uint64      `json:"seqRegressions"`
	NoSeq          int              `json:"noSeq"`
	Foreign        int              `json:"foreign"`
	Frames         int              `json:"frames"`
	Heartbeats     int              `json:"heartbeats"`
	Bad            []string         `json:"bad"`
	Events         []string         `json:"events"`
	Cuts           []struct {
		Kind    string `json:"kind"`
		Ended   int    `json:"ended"`
		Killed  int    `json:"killed"`
		Dropped int64  `json:"dropped"`
	} `json:"cuts"`
	Closes []struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
		Clean  bool   `json:"clean"`
	} `json:"closes"`
	Errors     int     `json:"errors"`
	GaveUp     int     `json:"gaveUp"`
	IDMismatch [][]any `json:"idMismatch"`
	BadStatus  []int   `json:"badStatus"`
	Error      string  `json:"error"`
	ElapsedMs  int64   `json:"elapsedMs"`
}

// check asserts every published message arrived exactly once and in
// order, by payload and by seq, and that every cut really cut.
func (st browserPageRun) check(t *testing.T, name string, total int, published map[int]string, reqs []browserProxyRequest) {
	t.Helper()
	if st.Error != "" {
		t.Errorf("page: %s", st.Error)
	}
	if len(published) != total {
		t.Errorf("the test published %d messages, want %d", len(published), total)
	}
	count := map[int]int{}
	var dups, outOfOrder, badText, catchup int
	var prevN int
	var prevSeq uint64
	for i, r := range st.Received {
		n := int(browserAsFloat(r[0]))
		seq := uint64(browserAsFloat(r[1]))
		if c, _ := r[2].(bool); c {
			catchup++
		}
		count[n]++
		if count[n] > 1 {
			dups++
			t.Errorf("message %d received again (arrival %d)", n, i)
		}
		if i > 0 && (n <= prevN || seq <= prevSeq) {
			outOfOrder++
			t.Errorf("arrival %d: message %d seq %d after message %d seq %d", i, n, seq, prevN, prevSeq)
		}
		if text, _ := r[3].(string); text != published[n] {
			badText++
			t.Errorf("message %d carries %q, published %q", n, text, published[n])
		}
		prevN, prevSeq = n, seq
	}
	var missing []int
	for n := 1; n <= total; n++ {
		if count[n] == 0 {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Errorf("lost messages %v", missing)
	}
	if len(st.Gaps) > 0 {
		t.Errorf("gap objects %v", st.Gaps)
	}
	if len(st.SeqRegressions) > 0 || st.NoSeq > 0 || len(st.Bad) > 0 {
		t.Errorf("seq regressions %v, objects without seq %d, non-list frames %q", st.SeqRegressions, st.NoSeq, st.Bad)
	}
	if len(st.IDMismatch) > 0 {
		t.Errorf("SSE event ids that are not the batch's last seq: %v", st.IDMismatch)
	}
	if st.GaveUp > 0 || len(st.BadStatus) > 0 {
		t.Errorf("EventSource gave up %d times; poll statuses %v", st.GaveUp, st.BadStatus)
	}

	cuts := map[string]int{}
	for _, c := range st.Cuts {
		cuts[c.Kind]++
		switch {
		case c.Kind == "server" && c.Ended != 1:
			t.Errorf("server cut ended %d sessions, want 1", c.Ended)
		case c.Kind == "proxy" && c.Killed == 0:
			t.Errorf("proxy cut found no connection to reset")
		case c.Kind == "proxy" && c.Dropped == 0:
			t.Errorf("proxy cut swallowed no frame: nothing was lost on the way")
		}
	}
	for _, k := range []string{"server", "client", "proxy"} {
		if cuts[k] != 1 {
			t.Errorf("%d %s cuts, want 1 (cuts %+v)", cuts[k], k, st.Cuts)
		}
	}
	resumes := browserResumes(name, reqs)
	switch name {
	case "websocket":
		codes := map[int]int{}
		for _, c := range st.Closes {
			codes[c.Code]++
		}
		// 4000: the hub replaced the session; 1000: the page closed; 1006:
		// the proxy reset the connection (no close frame).
		for _, code := range []int{4000, 1000, 1006} {
			if codes[code] == 0 {
				t.Errorf("no WebSocket close %d among %+v", code, st.Closes)
			}
		}
		if st.Heartbeats == 0 {
			t.Errorf("no heartbeat [] received")
		}
		if resumes < 3 {
			t.Errorf("%d /ws requests with last_seq, want 3 (one per cut): %+v", resumes, reqs)
		}
	case "sse":
		// The server's end and the proxy's reset make the browser reconnect
		// by itself, sending Last-Event-ID; the page's own abort resumes
		// with last_event_id in the query.
		headers := 0
		for _, r := range reqs {
			if r.LastEventID != "" {
				headers++
			}
		}
		if headers < 2 {
			t.Errorf("%d /sse requests carried Last-Event-ID, want 2 (automatic reconnects): %+v", headers, reqs)
		}
		if resumes < 3 {
			t.Errorf("%d /sse requests resumed, want 3: %+v", resumes, reqs)
		}
	}
	t.Logf("%s: %d/%d messages, %d duplicates, %d lost, %d out of order, %d catch-up, %d frames (%d heartbeats), "+
		"%d requests through the proxy (%d resumed), cuts %+v, closes %+v, errors %d, %d ms",
		name, len(count), total, dups, len(missing), outOfOrder, catchup, st.Frames, st.Heartbeats,
		len(reqs), resumes, st.Cuts, st.Closes, st.Errors, st.ElapsedMs)
	if t.Failed() {
		for _, e := range st.Events {
			t.Logf("  %s", e)
		}
	}
}

// browserResumes counts the requests that asked to resume after a seq.
func browserResumes(name string, reqs []browserProxyRequest) int {
	n := 0
	for _, r := range reqs {
		switch {
		case name == "sse" && (r.LastEventID != "" || strings.Contains(r.Query, "last_event_id=")):
			n++
		case (name == "websocket" || name == "longpoll") && strings.Contains(r.Query, "last_seq="):
			n++
		}
	}
	return n
}

func browserAsFloat(v any) float64 {
	f, _ := v.(float64)
	return f
}
