package sse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	r3sse "github.com/r3labs/sse/v2"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/sse"
)

// waitFor is how long a test waits for something that should happen at once.
const waitFor = 5 * time.Second

// newHub returns a hub with cfg whose collector runs until the test ends
// (when run is true).
func newHub(t testing.TB, cfg core.Config, run bool) *core.Hub {
	t.Helper()
	hub := core.New(cfg)
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = hub.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return hub
}

// newServer serves an SSE handler for hub (cfg.Hub is set) at /sse.
func newServer(t testing.TB, hub *core.Hub, cfg sse.Config) *httptest.Server {
	t.Helper()
	cfg.Hub = hub
	srv := httptest.NewServer(sse.New(cfg))
	t.Cleanup(srv.Close)
	return srv
}

func sseURL(srv *httptest.Server, connID string) string {
	return srv.URL + "/sse?conn_id=" + connID
}

// connect creates a connection of user in channels and returns its id.
func connect(t testing.TB, hub *core.Hub, user string, channels ...string) string {
	t.Helper()
	res, err := hub.Connect(context.Background(), core.ConnectParams{
		Username: user, Channels: channels, Info: core.DefaultInfoOptions(),
	})
	if err != nil {
		t.Fatalf("connect %s: %v", user, err)
	}
	return res.ConnID
}

// publish sends text as a message from "pub" to channel.
func publish(t testing.TB, hub *core.Hub, channel, text string) {
	t.Helper()
	msg, _ := json.Marshal(text)
	hub.Publish(context.Background(), []core.Message{{
		Kind: core.KindSend, UUID: core.NewUUID(), Channel: channel,
		Fields: map[string]json.RawMessage{"user": json.RawMessage(`"pub"`), "message": msg},
	}})
}

// frame is one object of an event's JSON list.
type frame struct {
	Seq     uint64 `json:"seq"`
	Type    string `json:"type"`
	Catchup *bool  `json:"catchup"`
	Message string `json:"message"`
	Channel string `json:"channel"`
	FromSeq uint64 `json:"from_seq"`
	ToSeq   uint64 `json:"to_seq"`
}

// event is one data event as the r3labs client saw it, decoded.
type event struct {
	ID     uint64 // the id when it is a seq
	RawID  string
	Frames []frame
}

// noRetry makes the r3labs client give up after the first attempt instead
// of retrying for 15 minutes.
type noRetry struct{}

func (noRetry) NextBackOff() time.Duration { return -1 }
func (noRetry) Reset()                     {}

// subscription is one r3labs client subscription running in the background.
type subscription struct {
	Events chan event
	// End receives what the subscription returned when the stream ended.
	End    chan error
	cancel context.CancelFunc
}

// newClient returns an r3labs client for url that does not retry.
func newClient(url string, opts ...func(*r3sse.Client)) *r3sse.Client {
	c := r3sse.NewClient(url, opts...)
	c.ReconnectStrategy = noRetry{}
	return c
}

// subscribe runs c.SubscribeRawWithContext until the stream ends or the
// test does. Events without data (the greeting's retry) are skipped; onEvent,
// when set, runs on the client's goroutine for each delivered event before
// it is queued.
func subscribe(t testing.TB, c *r3sse.Client, onEvent func(event)) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscription{Events: make(chan event, 4096), End: make(chan error, 1), cancel: cancel}
	go func() {
		s.End <- c.SubscribeRawWithContext(ctx, func(msg *r3sse.Event) {
			if len(msg.Data) == 0 {
				return
			}
			ev := event{}
			ev.RawID = string(msg.ID)
			ev.ID, _ = strconv.ParseUint(ev.RawID, 10, 64)
			if err := json.Unmarshal(msg.Data, &ev.Frames); err != nil {
				t.Errorf("event data %q is not a JSON list: %v", msg.Data, err)
				return
			}
			if onEvent != nil {
				onEvent(ev)
			}
			s.Events <- ev
		})
	}()
	t.Cleanup(cancel)
	return s
}

// Stop closes the client side of the stream and waits for it to end.
func (s *subscription) Stop(t testing.TB) {
	t.Helper()
	s.cancel()
	select {
	case <-s.End:
	case <-time.After(waitFor):
		t.Fatal("subscription did not end after cancel")
	}
}

// next returns the next event or fails the test after waitFor.
func (s *subscription) next(t testing.TB) event {
	t.Helper()
	select {
	case ev := <-s.Events:
		return ev
	case err := <-s.End:
		t.Fatalf("stream ended (%v) while an event was expected", err)
	case <-time.After(waitFor):
		t.Fatal("no event within", waitFor)
	}
	return event{}
}

// frames collects events until count message frames have arrived.
func (s *subscription) frames(t testing.TB, count int) []frame {
	t.Helper()
	var out []frame
	for len(out) < count {
		out = append(out, s.next(t).Frames...)
	}
	return out
}

// rawStream is a plain net/http GET of the stream for header and byte checks.
type rawStream struct {
	Resp   *http.Response
	Reader *bufio.Reader
}

// openRaw GETs url with headers; the body is closed when the test ends.
func openRaw(t testing.TB, client *http.Client, url string, headers map[string]string) *rawStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return &rawStream{Resp: resp, Reader: bufio.NewReader(resp.Body)}
}

// readBlock reads up to the next blank line (one SSE block) within waitFor.
func (r *rawStream) readBlock(t testing.TB) string {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var block []byte
		for {
			line, err := r.Reader.ReadBytes('\n')
			block = append(block, line...)
			if err != nil || len(line) == 1 {
				ch <- result{string(block), err}
				return
			}
		}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("reading the stream after %q: %v", res.s, res.err)
		}
		return res.s
	case <-time.After(waitFor):
		t.Fatal("no SSE block within", waitFor)
	}
	return ""
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitFor)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bothWays runs f with HTTP/1.1 streams taken over (the default) and kept
// inside net/http (Config.NoHijack).
func bothWays(t *testing.T, f func(t *testing.T, noHijack bool)) {
	t.Run("hijacked", func(t *testing.T) { f(t, false) })
	t.Run("net-http", func(t *testing.T) { f(t, true) })
}

// readToEnd reads what is left of the stream, failing if it does not end
// within waitFor.
func (r *rawStream) readToEnd(t testing.TB) string {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r.Reader)
		ch <- result{b, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("reading to the end of the stream: %v", res.err)
		}
		return string(res.b)
	case <-time.After(waitFor):
		t.Fatal("the stream did not end within", waitFor)
	}
	return ""
}
