package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// apiT is a real API server on a loopback port with its hub.
type apiT struct {
	t      *testing.T
	hub    *core.Hub
	srv    *httptest.Server
	secret string
	api    *Server // the handler srv serves
}

// newAPI starts a server; mutate adjusts the API config before New.
func newAPI(t *testing.T, mutate func(*Config, *core.Config)) *apiT {
	t.Helper()
	var hc core.Config
	cfg := Config{Secret: "test-secret"}
	if mutate != nil {
		mutate(&cfg, &hc)
	}
	hub := core.New(hc)
	cfg.Hub = hub
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &apiT{t: t, hub: hub, srv: srv, secret: cfg.Secret, api: s}
}

// token signs "channelstream" now with the server's secret.
func (a *apiT) token() string { return client.Sign(a.secret, "channelstream", time.Now()) }

// raw sends a request with an optional raw body and headers.
func (a *apiT) raw(method, path, body string, hdr map[string]string) (int, http.Header, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		a.t.Fatalf("request: %v", err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := *a.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("read %s %s: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// call sends a signed JSON request; body may be a string (sent as is) or
// any value (marshalled).
func (a *apiT) call(method, path string, body any) (int, []byte) {
	a.t.Helper()
	var s string
	switch v := body.(type) {
	case nil:
	case string:
		s = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			a.t.Fatalf("marshal: %v", err)
		}
		s = string(b)
	}
	code, _, b := a.raw(method, path, s, map[string]string{
		"X-Channelstream-Secret": a.token(), "Content-Type": "application/json"})
	return code, b
}

// ok calls and requires 200, decoding the body into a generic value.
func (a *apiT) ok(method, path string, body any) map[string]any {
	a.t.Helper()
	code, b := a.call(method, path, body)
	if code != http.StatusOK {
		a.t.Fatalf("%s %s: status %d, body %s", method, path, code, b)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		a.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
	}
	return v
}

// connect makes a connection of user to channels and returns its id.
func (a *apiT) connect(user string, channels ...string) string {
	a.t.Helper()
	if channels == nil {
		channels = []string{}
	}
	v := a.ok("POST", "/connect", map[string]any{"username": user, "channels": channels})
	return v["conn_id"].(string)
}

// attach attaches a reader to a connection.
func (a *apiT) attach(connID string) *reader {
	a.t.Helper()
	s, err := a.hub.Attach(connID, core.AttachOptions{Transport: "test"})
	if err != nil {
		a.t.Fatalf("attach %s: %v", connID, err)
	}
	return &reader{t: a.t, s: s}
}

// reader collects the frames of one session.
type reader struct {
	t      *testing.T
	s      *core.Session
	frames []map[string]any
}

// poll takes what is waiting without blocking.
func (r *reader) poll() {
	r.t.Helper()
	out, n, _ := r.s.Next(nil, 0)
	if n == 0 {
		return
	}
	var list []map[string]any
	if err := json.Unmarshal(out, &list); err != nil {
		r.t.Fatalf("frame list %s: %v", out, err)
	}
	r.frames = append(r.frames, list...)
}

// wait polls until n frames arrived or fails after a deadline.
func (r *reader) wait(n int) []map[string]any {
	r.t.Helper()
	deadline := time.After(3 * time.Second)
	for {
		r.poll()
		if len(r.frames) >= n {
			return r.frames
		}
		select {
		case <-r.s.Ready():
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			r.t.Fatalf("got %d frames, want %d: %v", len(r.frames), n, r.frames)
		}
	}
}

// types lists the "type" of every frame received so far.
func (r *reader) types() []string {
	r.poll()
	out := make([]string, len(r.frames))
	for i, f := range r.frames {
		out[i], _ = f["type"].(string)
	}
	return out
}

// jsonEq fails unless got and want encode the same JSON value.
func jsonEq(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %s", want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("body\n got  %s\n want %s", gb, wb)
	}
}

// status fails unless code is want.
func status(t *testing.T, code, want int, body []byte) {
	t.Helper()
	if code != want {
		t.Fatalf("status %d, want %d; body %s", code, want, body)
	}
}
