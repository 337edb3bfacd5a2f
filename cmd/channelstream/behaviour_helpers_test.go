package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// promptly is how long a scenario waits for something that should happen
// at once (a published message reaching an attached client).
const promptly = 5 * time.Second

// behaviourConfig is the node every scenario starts from: fast heartbeats
// and short polls, so that what depends on them shows within a second.
// Heartbeats are not faster than 250 ms (the heartbeat scenario sets 100
// ms): a WebSocket server drops a client that does not answer its pings
// within 3 heartbeat intervals, which a busy machine running -race can
// miss at 300 ms.
func behaviourConfig(c *Config) {
	c.HeartbeatInterval = 250 * time.Millisecond
	c.LongpollTimeout = 300 * time.Millisecond
	c.LongpollGather = 20 * time.Millisecond
}

// post makes a signed API request through hc (nil: a default client)
// and returns the status and body. Unlike Call it does not touch the test,
// so any goroutine may use it.
func (tg *testGateway) post(hc *http.Client, method, path string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, fmt.Errorf("marshal: %w", err)
	}
	api := client.New(client.Config{BaseURL: tg.apiURL(), Secret: tg.Secret, HTTPClient: hc})
	return api.Call(context.Background(), method, path, b)
}

// behaviourEnv is one scenario's node and the transport under test.
type behaviourEnv struct {
	t         *testing.T
	tg        *testGateway
	transport string
	open      func(connID string) subscriber
}

// mustCall makes a signed API request that must answer 200 and returns
// the body.
func (e *behaviourEnv) mustCall(method, path string, body any) []byte {
	e.t.Helper()
	code, b := e.tg.Call(method, path, body)
	if code != http.StatusOK {
		e.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	return b
}

// hasConn reports whether the node knows the connection, once it has
// applied everything its cluster did before (one node: at once).
func (e *behaviourEnv) hasConn(id string) bool {
	e.t.Helper()
	if err := e.tg.g.hub.Sync(e.t.Context()); err != nil {
		e.t.Fatalf("sync with the cluster: %v", err)
	}
	return e.tg.g.hub.HasConn(id)
}

// connect POSTs /connect with body and returns the conn_id.
func (e *behaviourEnv) connect(body map[string]any) string {
	e.t.Helper()
	var v struct {
		ConnID string `json:"conn_id"`
	}
	if b := e.mustCall("POST", "/connect", body); json.Unmarshal(b, &v) != nil || v.ConnID == "" {
		e.t.Fatalf("connect answer %s", b)
	}
	return v.ConnID
}

// attach connects user to channels and attaches the transport under test.
func (e *behaviourEnv) attach(user string, channels ...string) (string, subscriber) {
	e.t.Helper()
	id := e.tg.Connect(user, channels...)
	return id, e.open(id)
}

// send POSTs /message with msgs; user defaults to "system".
func (e *behaviourEnv) send(msgs ...map[string]any) {
	e.t.Helper()
	for _, m := range msgs {
		if _, ok := m["user"]; !ok {
			m["user"] = "system"
		}
	}
	e.mustCall("POST", "/message", msgs)
}

// ready returns once the transport under test is surely attached, so that
// what is published next is live. Only WebSocket needs it: the server
// answers the handshake before it attaches the socket, so the first
// heartbeat is the proof. SSE attaches before it answers 200; a long-poll
// is attached only while a poll waits (see live).
func (e *behaviourEnv) ready(sub subscriber) {
	e.t.Helper()
	if e.transport != "websocket" {
		return
	}
	if batch, err := sub.Next(promptly); err != nil || len(batch) != 0 {
		e.t.Fatalf("waiting for the first heartbeat: %v %v", batch, err)
	}
}

// live is what a frame published to an attached transport carries:
// "catchup": false. A long-poll frame published between two polls waits
// in the queue and is catch-up by design (upstream's semantics), so on
// long-poll either value is right.
func (e *behaviourEnv) live(want map[string]any) map[string]any {
	if e.transport != "longpoll" {
		want["catchup"] = false
	}
	return want
}

// msgText is a message body {"text": s}.
func msgText(s string) map[string]any { return map[string]any{"text": s} }

// takeFrames returns the next n frames sub receives, skipping heartbeats;
// it fails the test when the transport ends or stalls first.
func takeFrames(t *testing.T, sub subscriber, n int) []wireFrame {
	t.Helper()
	var out []wireFrame
	deadline := time.Now().Add(promptly)
	for len(out) < n {
		batch, err := sub.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("after %d of %d frames %v: %v", len(out), n, out, err)
		}
		out = append(out, batch...)
	}
	if len(out) > n {
		t.Fatalf("wanted %d frames, the last batch brought more: %v", n, out)
	}
	return out
}

// takeFrame returns the next frame sub receives, skipping heartbeats.
func takeFrame(t *testing.T, sub subscriber) wireFrame {
	t.Helper()
	return takeFrames(t, sub, 1)[0]
}

// expectEnd waits for the server to end sub's transport, allowing only
// heartbeats before that, and returns how it ended.
func expectEnd(t *testing.T, sub subscriber) *endedError {
	t.Helper()
	deadline := time.Now().Add(promptly)
	for {
		batch, err := sub.Next(time.Until(deadline))
		var end *endedError
		switch {
		case errors.As(err, &end):
			return end
		case err != nil:
			t.Fatalf("the transport did not end: %v", err)
		case len(batch) > 0:
			t.Fatalf("frames after the end was expected: %v", batch)
		}
	}
}

// wantFrame checks the frame's keys against want (values compared as JSON).
func wantFrame(t *testing.T, f wireFrame, want map[string]any) {
	t.Helper()
	for k, w := range want {
		got, _ := json.Marshal(f[k])
		exp, _ := json.Marshal(w)
		if _, ok := f[k]; !ok || string(got) != string(exp) {
			t.Errorf("%s = %s, want %s in %v", k, got, exp, f)
		}
	}
}

// pollUntil polls cond every 10 ms until it holds, failing after within.
func pollUntil(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
