package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// drainGrace is the shutdown_grace of the drain test. WebSocket closes are
// spread over min(shutdown_grace, ¾ of it) = 2.25 s, which leaves room to
// tell "exited once all were gone" from "waited for the deadline".
const drainGrace = 3 * time.Second

// TestDrainOrderOnSIGTERM runs the real binary with clients attached over
// the three transports, sends SIGTERM and checks the order of PROTOCOL.md
// §3.3: /readyz turns 503 while the process still serves, new attachments
// are refused, WebSocket clients get close 1012 spread over the window,
// SSE streams end with a jittered "retry:", waiting long-polls answer at
// once, and the process exits 0 as soon as every transport is gone, well
// before shutdown_grace runs out.
func TestDrainOrderOnSIGTERM(t *testing.T) {
	const nWS, nRawSSE, nR3SSE, nPoll = 16, 4, 2, 6
	began := time.Now()
	bin := buildBinary(t)
	t.Logf("built in %v", time.Since(began).Round(time.Millisecond))
	rb := startBinary(t, bin, nil, "--host", "127.0.0.1", "--port", "0", "--secret", "drain-secret",
		"--shutdown_grace", drainGrace.String(), "--heartbeat_interval", "500ms",
		// A waiting poll that answers within the window did so because of
		// the shutdown, not because its own 20 s ran out.
		"--longpoll_timeout", "20s", "--conn_timeout", "60s")
	node := binaryGateway(t, rb, "drain-secret")

	var (
		ws    []*subscriberLog
		sse   []*rawSSEStream
		r3    []*subscriberLog
		polls []*subscriberLog
	)
	var wsSubs []*wsSubscriber
	for i := range nWS {
		wsSubs = append(wsSubs, openWS(t, node.URL, node.Connect(fmt.Sprintf("ws-%d", i), "drain")))
	}
	for i, sub := range wsSubs {
		if batch, err := sub.Next(promptly); err != nil || len(batch) != 0 { // attached: the first heartbeat came
			t.Fatalf("websocket %d: waiting for the first heartbeat: %v %v", i, batch, err)
		}
		ws = append(ws, logSubscriber(t, sub))
	}
	for i := range nRawSSE {
		sse = append(sse, openRawSSE(t, node.URL, node.Connect(fmt.Sprintf("sse-%d", i), "drain")))
	}
	for i := range nR3SSE {
		r3 = append(r3, logSubscriber(t, openSSE(t, node.URL, node.Connect(fmt.Sprintf("r3sse-%d", i), "drain"))))
	}
	for i := range nPoll {
		polls = append(polls, logSubscriber(t, openPoll(t, node.URL, node.Connect(fmt.Sprintf("poll-%d", i), "drain"), nil)))
	}
	spare := map[string]string{} // connections that attach only after SIGTERM
	for _, tr := range []string{"websocket", "sse", "longpoll"} {
		spare[tr] = node.Connect("late-"+tr, "drain")
	}

	// Every client is live: one message reaches all of them.
	node.mustSend(t, "drain", "before")
	all := slices.Concat(ws, r3, polls)
	for i, l := range all {
		l.waitText(t, "before", promptly, fmt.Sprint("client ", i))
	}
	for i, s := range sse {
		s.waitData(t, "before", promptly, fmt.Sprint("raw SSE ", i))
	}
	pollUntil(t, promptly, "every transport attached", func() bool {
		m := scrapeURL(t, node.URL)
		return m[`channelstream_connections_attached{transport=websocket}`] == nWS &&
			m[`channelstream_connections_attached{transport=sse}`] == nRawSSE+nR3SSE &&
			m[`channelstream_connections_attached{transport=longpoll}`] == nPoll
	})

	t.Logf("clients ready at %v", time.Since(began).Round(time.Millisecond))
	ready := startReadyProbe(node.URL)
	t.Cleanup(ready.stop)
	ready.waitStatus(t, http.StatusOK, promptly)
	sigAt := time.Now()
	if err := rb.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { <-rb.done; exited <- rb.cmd.Wait() }()

	notReadyAt := ready.waitStatus(t, http.StatusServiceUnavailable, 2*time.Second)
	t.Run("the process still serves while /readyz says 503", func(t *testing.T) {
		if code := getStatus(t, node.URL+"/healthz"); code != http.StatusOK {
			t.Errorf("/healthz answered %d while draining", code)
		}
	})
	t.Run("new attachments are refused", func(t *testing.T) { testRefusedAttachments(t, node.URL, spare) })

	var exitAt time.Time
	select {
	case err := <-exited:
		exitAt = time.Now()
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, rb.Logs())
		}
	case <-time.After(drainGrace + 5*time.Second):
		t.Fatalf("still running %v after SIGTERM\n%s", drainGrace+5*time.Second, rb.Logs())
	}
	ready.stop()

	wsEnds := endTimes(t, ws, "websocket", func(e *endedError) bool { return e.Code == 1012 })
	t.Run("WebSocket clients get 1012 spread over the window", func(t *testing.T) {
		first, last := wsEnds[0].Sub(sigAt), wsEnds[len(wsEnds)-1].Sub(sigAt)
		buckets := map[time.Duration]bool{}
		for _, at := range wsEnds {
			buckets[at.Sub(sigAt).Truncate(100*time.Millisecond)] = true
		}
		t.Logf("closes from %v to %v after SIGTERM, in %d distinct 100 ms slots", first.Round(time.Millisecond), last.Round(time.Millisecond), len(buckets))
		// Uniform over 2.25 s, 16 closes span less than a third of it with
		// a probability of about 1e-6.
		if last-first < drainGrace/4 || len(buckets) < 4 {
			t.Errorf("closes span %v over %d slots: not spread", last-first, len(buckets))
		}
		if last > drainGrace {
			t.Errorf("last close %v after SIGTERM, beyond shutdown_grace %v", last, drainGrace)
		}
	})
	t.Run("SSE streams end with a jittered retry hint", func(t *testing.T) {
		retries := map[int]bool{}
		for i, s := range sse {
			retry, endAt, err := s.endHint()
			if err != nil {
				t.Errorf("raw SSE %d: %v", i, err)
				continue
			}
			retries[retry] = true
			if d := endAt.Sub(sigAt); d > drainGrace {
				t.Errorf("raw SSE %d ended %v after SIGTERM", i, d)
			}
		}
		if len(retries) < 2 {
			t.Errorf("every stream got the same retry %v: no jitter", retries)
		}
		endTimes(t, r3, "r3labs SSE", func(e *endedError) bool { return e.EOF })
	})
	var pollEnds []time.Time
	t.Run("waiting long-polls answer at once, then are refused", func(t *testing.T) {
		for i, l := range polls {
			at, ok := l.batchAfter(sigAt)
			if !ok {
				t.Errorf("poll %d: no answer after SIGTERM: %v", i, l.summary())
				continue
			}
			if d := at.Sub(sigAt); d > time.Second {
				t.Errorf("poll %d answered %v after SIGTERM, not at once", i, d)
			}
		}
		pollEnds = endTimes(t, polls, "long-poll", func(e *endedError) bool { return e.Code == http.StatusServiceUnavailable })
	})
	t.Run("readiness turned 503 before any transport was closed", func(t *testing.T) {
		firstEnd := slices.MinFunc(slices.Concat(wsEnds, pollEnds), time.Time.Compare)
		for _, p := range ready.results() {
			if p.sent.After(firstEnd) && p.status == http.StatusOK {
				t.Errorf("/readyz sent %v after SIGTERM, after the first transport ended, answered 200", p.sent.Sub(sigAt))
			}
		}
		if !notReadyAt.Before(wsEnds[len(wsEnds)-1]) {
			t.Errorf("/readyz first answered 503 at %v, after the last WebSocket closed", notReadyAt.Sub(sigAt))
		}
	})
	t.Run("the process exits 0 once every transport is gone", func(t *testing.T) {
		lastWS := wsEnds[len(wsEnds)-1]
		t.Logf("exit %v after SIGTERM, %v after the last WebSocket close", exitAt.Sub(sigAt).Round(time.Millisecond), exitAt.Sub(lastWS).Round(time.Millisecond))
		if d := exitAt.Sub(sigAt); d > drainGrace+time.Second {
			t.Errorf("exited %v after SIGTERM, beyond shutdown_grace %v + 1 s", d, drainGrace)
		}
		if d := exitAt.Sub(lastWS); d > time.Second {
			t.Errorf("exited %v after the last transport was gone", d)
		}
		logs := rb.Logs()
		if strings.Contains(logs, "still open at the end of shutdown_grace") {
			t.Errorf("transports outlived shutdown_grace:\n%s", logs)
		}
		want := fmt.Sprintf(`"websocket":%d,"sse":%d,"longpoll":%d`, nWS, nRawSSE+nR3SSE, nPoll)
		if !strings.Contains(logs, want) || !strings.Contains(logs, `"message":"stopped"`) {
			t.Errorf("the logs lack the drain line with %s or the stop line:\n%s", want, logs)
		}
	})
}

// testRefusedAttachments attaches the spare connections while the node
// drains: WebSocket is upgraded then closed with 1012, SSE and long-poll
// are refused with 503, Retry-After and a JSON error.
func testRefusedAttachments(t *testing.T, base string, spare map[string]string) {
	sub, err := dialWS(base, spare["websocket"])
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer sub.Close()
	if end := expectEnd(t, sub); end.Code != 1012 {
		t.Errorf("websocket attach while draining ended with %v, want 1012", end)
	}
	for _, path := range []string{"/sse", "/listen"} {
		tr := map[string]string{"/sse": "sse", "/listen": "longpoll"}[path]
		resp, err := http.Get(base + path + "?conn_id=" + url.QueryEscape(spare[tr]))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !isErrorJSON(body) {
			t.Errorf("%s while draining: %d Retry-After %q %s, want 503 with Retry-After and a JSON error",
				path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
}

// endTimes checks that every logged subscriber ended as want says and
// returns the end times, sorted.
func endTimes(t *testing.T, logs []*subscriberLog, what string, want func(*endedError) bool) []time.Time {
	t.Helper()
	var out []time.Time
	for i, l := range logs {
		at, end := l.waitEnd(t, 2*time.Second)
		var e *endedError
		if !errors.As(end, &e) || !want(e) {
			t.Errorf("%s %d ended with %v", what, i, end)
			continue
		}
		out = append(out, at)
	}
	if len(out) == 0 {
		t.Fatalf("no %s ended as expected", what)
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// binaryGateway is a testGateway for a node started with startBinary: only
// its URL, Secret, Call, Connect and post are usable (there is no
// in-process gateway behind it, and Stop must not be called).
func binaryGateway(t *testing.T, rb *runningBinary, secret string) *testGateway {
	return &testGateway{t: t, URL: "http://" + rb.addr, Secret: secret}
}

// mustSend publishes {"text": text} to channel; the node must accept it.
func (tg *testGateway) mustSend(t *testing.T, channel, text string) {
	t.Helper()
	code, b := tg.Call("POST", "/message", []map[string]any{{"user": "system", "channel": channel, "message": msgText(text)}})
	if code != http.StatusOK {
		t.Fatalf("message: %d %s", code, b)
	}
}

// scrapeURL reads a node's /metrics (see scrapeGateway).
func scrapeURL(t *testing.T, base string) map[string]float64 {
	return scrapeGateway(t, &testGateway{URL: base})
}

// getStatus makes a GET and returns its status.
func getStatus(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
