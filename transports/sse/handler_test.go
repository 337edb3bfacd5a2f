package sse_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/sse"
)

func TestStreamHeadersAndEarlyFlush(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		hub := newHub(t, core.Config{}, false)
		srv := newServer(t, hub, sse.Config{NoHijack: noHijack, Retry: 1500 * time.Millisecond})
		id := connect(t, hub, "alice", "c")

		raw := openRaw(t, srv.Client(), sseURL(srv, id), nil)
		if raw.Resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", raw.Resp.StatusCode)
		}
		want := map[string]string{
			"Content-Type":      "text/event-stream",
			"Cache-Control":     "no-cache, no-transform",
			"X-Accel-Buffering": "no",
			"Content-Length":    "",
		}
		for k, v := range want {
			if got := raw.Resp.Header.Get(k); got != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
		if noHijack && (raw.Resp.Close || len(raw.Resp.TransferEncoding) == 0) {
			t.Errorf("inside net/http: close %v, transfer-encoding %v, want a chunked keep-alive response",
				raw.Resp.Close, raw.Resp.TransferEncoding)
		}
		if !noHijack && !raw.Resp.Close {
			t.Error("taken over: the response is not delimited by closing the connection")
		}
		if raw.Resp.Header.Get("Date") == "" {
			t.Error("no Date header")
		}
		// Nothing is published: these bytes arrive only because the handler
		// flushes its greeting at once.
		if got := raw.readBlock(t); got != ":ok\n\n" {
			t.Errorf("first block %q, want %q", got, ":ok\n\n")
		}
		if got := raw.readBlock(t); got != "retry: 1500\n\n" {
			t.Errorf("second block %q, want %q", got, "retry: 1500\n\n")
		}
	})
}

func TestStreamOverHTTP2(t *testing.T) {
	hub := newHub(t, core.Config{}, false)
	srv := httptest.NewUnstartedServer(sse.New(sse.Config{Hub: hub}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	id := connect(t, hub, "alice", "c")

	raw := openRaw(t, srv.Client(), sseURL(srv, id), nil)
	if raw.Resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", raw.Resp.Proto)
	}
	if got := raw.Resp.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Errorf("Content-Type %q", got)
	}
	if got := raw.readBlock(t); got != ":ok\n\n" {
		t.Errorf("first block %q", got)
	}
	raw.readBlock(t) // retry
	publish(t, hub, "c", "over h2")
	if got := raw.readBlock(t); !strings.HasPrefix(got, "id: 1\ndata: [{") || !strings.Contains(got, `"message":"over h2"`) {
		t.Errorf("event block %q", got)
	}
}

func TestRequestErrors(t *testing.T) {
	hub := newHub(t, core.Config{}, false)
	srv := newServer(t, hub, sse.Config{})
	tests := []struct {
		name   string
		query  string
		status int
		body   string
	}{
		{"missing conn_id is 422", "", 422, `{"conn_id":["Missing data for required field."]}`},
		{"empty conn_id is 422", "?conn_id=", 422, `{"conn_id":["Not a valid UUID."]}`},
		{"non-UUID conn_id is 422", "?conn_id=nope", 422, `{"conn_id":["Not a valid UUID."]}`},
		{"unknown conn_id is 404", "?conn_id=" + core.NewUUID(), 404, `{"error":"unknown connection"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := srv.Client().Get(srv.URL + "/sse" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if string(body) != tt.body {
				t.Errorf("body %s, want %s", body, tt.body)
			}
		})
	}
}

func TestDrainingIs503WithRetryAfter(t *testing.T) {
	hub := newHub(t, core.Config{}, false)
	srv := newServer(t, hub, sse.Config{Retry: time.Second, ShutdownJitter: time.Second})
	id := connect(t, hub, "alice", "c")
	hub.Drain()

	resp, err := srv.Client().Get(sseURL(srv, id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if after, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || after < 1 || after > 2 {
		t.Errorf("Retry-After %q, want 1 or 2", resp.Header.Get("Retry-After"))
	}
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body["error"] == "" {
		t.Errorf("body %v (%v), want an error", body, err)
	}
}

func TestConnIDIsParsedLikePythonUUID(t *testing.T) {
	hub := newHub(t, core.Config{}, false)
	srv := newServer(t, hub, sse.Config{})
	id := connect(t, hub, "alice", "c")
	upper := strings.ToUpper(strings.ReplaceAll(id, "-", ""))

	raw := openRaw(t, srv.Client(), sseURL(srv, upper), nil)
	if raw.Resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", raw.Resp.StatusCode)
	}
}

func TestNewPanicsWithoutHub(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New without a Hub did not panic")
		}
	}()
	sse.New(sse.Config{})
}

func TestMiddlewareHeadersAreKept(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		hub := newHub(t, core.Config{}, false)
		h := sse.New(sse.Config{Hub: hub, NoHijack: noHijack})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Access-Control-Allow-Origin", "*") // as httpapi's CORS does
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		id := connect(t, hub, "alice", "c")

		raw := openRaw(t, srv.Client(), sseURL(srv, id), nil)
		if got := raw.Resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("Access-Control-Allow-Origin %q, want *", got)
		}
	})
}

func TestWaitAndActiveFollowStreams(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		hub := newHub(t, core.Config{}, false)
		h := sse.New(sse.Config{Hub: hub, NoHijack: noHijack, HeartbeatInterval: 20 * time.Millisecond})
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		if err := h.Wait(context.Background()); err != nil {
			t.Fatalf("Wait with no stream: %v", err)
		}
		a, b := connect(t, hub, "alice", "c"), connect(t, hub, "bob", "c")
		subA := subscribe(t, newClient(sseURL(srv, a)), nil)
		subscribe(t, newClient(sseURL(srv, b)), nil)
		eventually(t, "two streams are active", func() bool { return h.Active() == 2 })

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := h.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait with open streams: %v, want the deadline", err)
		}

		subA.Stop(t) // the client leaves: noticed at the latest at the next heartbeat
		eventually(t, "the stream of the client that left ends", func() bool { return h.Active() == 1 })
		hub.Disconnect(context.Background(), b) // the hub ends the other
		ctx, cancel = context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := h.Wait(ctx); err != nil {
			t.Fatalf("Wait after every stream ended: %v", err)
		}
	})
}

func TestShutdownEndsStreamsWithRetryAndRefusesNewOnes(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		hub := newHub(t, core.Config{}, false)
		h := sse.New(sse.Config{Hub: hub, NoHijack: noHijack, ShutdownJitter: time.Millisecond})
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		a, b := connect(t, hub, "alice", "c"), connect(t, hub, "bob", "c")
		raw := openRaw(t, srv.Client(), sseURL(srv, a), nil)
		raw.readBlock(t) // the greeting
		eventually(t, "the stream is open", func() bool { return h.Open() == 1 })

		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if rest := raw.readToEnd(t); !strings.Contains(rest, "retry: ") {
			t.Errorf("the stream ended with %q, want a retry: field", rest)
		}
		if h.Open() != 0 {
			t.Errorf("%d streams open after Shutdown", h.Open())
		}
		later := openRaw(t, srv.Client(), sseURL(srv, b), nil)
		if later.Resp.StatusCode != http.StatusServiceUnavailable || later.Resp.Header.Get("Retry-After") == "" {
			t.Errorf("a stream after Shutdown: status %d, Retry-After %q; want 503 with Retry-After",
				later.Resp.StatusCode, later.Resp.Header.Get("Retry-After"))
		}
	})
}
