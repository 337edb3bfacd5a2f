package sse_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	r3sse "github.com/r3labs/sse/v2"

	"github.com/channelstream-go/channelstream-go/core"
)

// r3Handler is the SSE transport built on r3labs/sse/v2's server instead of
// the plain writer loop. It lives in the tests only, to measure the two
// against each other (BenchmarkIdleMemory, BenchmarkFanout); it works
// around the traps that would otherwise lose or repeat frames, but not
// those it cannot reach (no write deadline, a stuck client blocks its
// stream goroutine and our pump).
type r3Handler struct {
	hub       *core.Hub
	srv       *r3sse.Server
	heartbeat time.Duration
	seq       atomic.Uint64
	mu        sync.Mutex
	streams   map[string]*r3Stream
}

// r3Stream follows one r3labs stream's single subscriber.
type r3Stream struct {
	subscribed chan struct{} // closed once the subscriber is registered
	gone       chan struct{} // closed once it has unsubscribed
}

// newR3Handler returns the r3labs-backed handler with a stream buffer of
// bufferSize events (r3labs' default is 1024).
func newR3Handler(hub *core.Hub, heartbeat time.Duration, bufferSize int) *r3Handler {
	h := &r3Handler{hub: hub, heartbeat: heartbeat, streams: map[string]*r3Stream{}}
	h.srv = r3sse.NewWithCallback(func(streamID string, _ *r3sse.Subscriber) {
		h.mu.Lock()
		close(h.streams[streamID].subscribed)
		h.mu.Unlock()
	}, func(streamID string, _ *r3sse.Subscriber) {
		h.mu.Lock()
		close(h.streams[streamID].gone)
		delete(h.streams, streamID)
		h.mu.Unlock()
	})
	// Trap: AutoReplay (on by default) keeps every event forever and
	// renumbers ids 0, 1, 2... so the seq would be lost.
	h.srv.AutoReplay = false
	h.srv.BufferSize = bufferSize
	h.srv.Headers = map[string]string{"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
	return h
}

func (h *r3Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	connID, ok := core.ParseUUID(q.Get("conn_id"))
	if !ok {
		http.Error(w, `{"conn_id": ["Not a valid UUID."]}`, http.StatusUnprocessableEntity)
		return
	}
	opts := core.AttachOptions{Transport: "sse-r3labs"}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		opts.LastSeq, _ = strconv.ParseUint(v, 10, 64)
		opts.Resume = true
	}
	// Trap: r3labs answers 400 to a non-numeric Last-Event-ID.
	r.Header.Del("Last-Event-ID")
	sess, err := h.hub.Attach(connID, opts)
	if err != nil {
		http.Error(w, `{"error": "unknown connection"}`, http.StatusNotFound)
		return
	}
	// One stream per session: streams cannot be shared by connections.
	streamID := strconv.FormatUint(h.seq.Add(1), 10)
	st := &r3Stream{subscribed: make(chan struct{}), gone: make(chan struct{})}
	h.mu.Lock()
	h.streams[streamID] = st
	h.mu.Unlock()
	h.srv.CreateStream(streamID)

	// The pump moves batches and heartbeats from the session into the
	// stream: a second goroutine beside r3labs' own two (the stream loop and
	// the context watcher) and the handler.
	go h.pump(r, sess, streamID, st)
	q.Set("stream", streamID)
	r.URL.RawQuery = q.Encode()
	h.srv.ServeHTTP(w, r)
}

func (h *r3Handler) pump(r *http.Request, sess *core.Session, streamID string, st *r3Stream) {
	// Trap: removing a stream that still has a subscriber leaks the
	// subscriber's context watcher; end the subscription first (an event
	// without data or comment ends r3labs' handler loop) and remove the
	// stream only once it has unsubscribed.
	defer func() {
		h.srv.Publish(streamID, &r3sse.Event{})
		<-st.gone
		h.srv.RemoveStream(streamID)
	}()
	// Trap: without the replay log, an event published before the
	// subscriber registered reaches nobody.
	select {
	case <-st.subscribed:
	case <-st.gone:
	}
	t := time.NewTicker(h.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			sess.Detach()
			return
		case <-st.gone:
			sess.Detach()
			return
		case <-sess.Done():
			return
		case <-sess.Ready():
			data, n, last := sess.Next(nil, 256)
			if n > 0 {
				h.srv.Publish(streamID, &r3sse.Event{ID: strconv.AppendUint(nil, last, 10), Data: data})
				sess.Touch() // queued to r3labs, not written: it has no way to say
			}
		case <-t.C:
			// Trap: r3labs sends no heartbeats of its own.
			h.srv.Publish(streamID, &r3sse.Event{Comment: []byte("hb")})
			sess.Touch()
		}
	}
}

// TestR3labsAdapterDelivers checks the comparison adapter works, so that
// the benchmarks compare two working transports.
func TestR3labsAdapterDelivers(t *testing.T) {
	hub := newHub(t, core.Config{}, false)
	srv := httptest.NewServer(newR3Handler(hub, time.Second, 16))
	t.Cleanup(srv.Close)
	id := connect(t, hub, "alice", "c")
	publish(t, hub, "c", "queued")
	sub := subscribe(t, newClient(sseURL(srv, id)), nil)
	publish(t, hub, "c", "live")
	fs := sub.frames(t, 2)
	if fs[0].Seq != 1 || fs[1].Seq != 2 || fs[1].Message != "live" {
		t.Errorf("frames %+v", fs)
	}
	hub.Disconnect(context.Background(), id)
	select {
	case <-sub.End:
	case <-time.After(waitFor):
		t.Fatal("stream still open after hub.Disconnect")
	}
}
