package longpoll

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// slack is how late a timed answer may be on a loaded machine under -race.
const slack = 1500 * time.Millisecond

// env is a real hub behind a real HTTP server with the handler mounted at
// /listen behind a CORS-like middleware.
type env struct {
	hub    *core.Hub
	h      *Handler
	srv    *httptest.Server
	client *http.Client
}

func newEnv(t testing.TB, hc core.Config, lc Config) *env {
	t.Helper()
	hub := core.New(hc)
	lc.Hub = hub
	h := New(lc)
	mux := http.NewServeMux()
	mux.Handle("GET /listen", withCORS(h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { shutdown(t, h) }) // before srv.Close (cleanups run last first)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(client.CloseIdleConnections)
	return &env{hub: hub, h: h, srv: srv, client: client}
}

// shutdown shuts h down, as a server's owner does before closing it: a
// poll answered as the test ends hands its connection back to the server
// (handBack), which must not happen while httptest.Server.Close waits for
// the server's connections.
func shutdown(t testing.TB, h *Handler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Errorf("longpoll Shutdown: %v", err)
	}
}

// withCORS stands for the caller's middleware: the handler must keep its
// headers.
func withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		next.ServeHTTP(w, r)
	})
}

func (e *env) connect(t testing.TB, user string, channels ...string) string {
	t.Helper()
	return e.connectWith(t, user, nil, channels...)
}

func (e *env) connectWith(t testing.TB, user string, cfgs map[string]core.ChannelConfig, channels ...string) string {
	t.Helper()
	res, err := e.hub.Connect(context.Background(), core.ConnectParams{
		Username: user, Channels: channels, ChannelConfigs: cfgs, Info: core.DefaultInfoOptions(),
	})
	if err != nil {
		t.Fatalf("connect %s: %v", user, err)
	}
	return res.ConnID
}

// publish sends one message to channel ("" with pm for a global PM) and
// returns its uuid.
func (e *env) publish(channel, text string, pm ...string) string {
	id := core.NewUUID()
	e.hub.Publish(context.Background(), []core.Message{{
		Kind: core.KindSend, UUID: id, Channel: channel, PMUsers: pm,
		Fields: map[string]json.RawMessage{
			"user":    json.RawMessage(`"system"`),
			"message": mustJSON(text),
		},
	}})
	return id
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// stream publishes to channel every period until the test ends.
func (e *env) stream(t testing.TB, channel string, every time.Duration) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				e.publish(channel, "stream")
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// result is one answered poll.
type result struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
	err     error
}

// pollURL builds /listen?conn_id=...&extra.
func (e *env) pollURL(connID string, extra url.Values) string {
	q := url.Values{}
	if connID != "" {
		q.Set("conn_id", connID)
	}
	for k, vs := range extra {
		q[k] = vs
	}
	return e.srv.URL + "/listen?" + q.Encode()
}

// get runs one request with a deadline; ctx may cancel it earlier.
func (e *env) get(ctx context.Context, rawURL string) result {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return result{err: err}
	}
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return result{err: err, elapsed: time.Since(start)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: body, elapsed: time.Since(start), err: err}
}

func (e *env) poll(t testing.TB, connID string, extra url.Values) result {
	t.Helper()
	r := e.get(context.Background(), e.pollURL(connID, extra))
	if r.err != nil {
		t.Fatalf("poll: %v", r.err)
	}
	return r
}

// pollAsync starts a poll and delivers its result on the channel.
func (e *env) pollAsync(ctx context.Context, connID string, extra url.Values) <-chan result {
	ch := make(chan result, 1)
	go func() { ch <- e.get(ctx, e.pollURL(connID, extra)) }()
	return ch
}

// await receives a poll's result within d.
func await(t testing.TB, ch <-chan result, d time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("poll: %v", r.err)
		}
		return r
	case <-time.After(d):
		t.Fatalf("poll did not answer within %v", d)
		return result{}
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// frame is one object of a /listen list.
type frame struct {
	Seq     uint64          `json:"seq"`
	Type    string          `json:"type"`
	UUID    string          `json:"uuid"`
	Channel *string         `json:"channel"`
	Catchup *bool           `json:"catchup"`
	Message json.RawMessage `json:"message"`
	FromSeq uint64          `json:"from_seq"`
	ToSeq   uint64          `json:"to_seq"`
	Cursor  string          `json:"cursor"`
}

func (f frame) text() string {
	var s string
	_ = json.Unmarshal(f.Message, &s)
	return s
}

// frames checks a 200 JSON answer and decodes its list.
func frames(t testing.TB, r result) []frame {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	return decodeList(t, r.body)
}

func decodeList(t testing.TB, body []byte) []frame {
	t.Helper()
	if !bytes.HasPrefix(body, []byte("[")) {
		t.Fatalf("body is not a JSON list: %s", body)
	}
	var out []frame
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return out
}

func uuids(fs []frame) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.UUID)
	}
	return out
}
