package sse

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/internal/drain"
	"github.com/channelstream-go/channelstream-go/transports/internal/resume"
	"github.com/channelstream-go/channelstream-go/transports/pump"
)

// Config configures a Handler. Only Hub is required; the zero value of every
// other field is its default.
type Config struct {
	// Hub is the hub connections attach to. Required.
	Hub *core.Hub
	// HeartbeatInterval is how often an attached stream gets a comment line
	// (": hb"), which keeps proxies from timing the stream out and the
	// connection from being collected; it is rounded up to a 256th of
	// itself, and a stream that sent an event since the last heartbeat
	// skips it. Default 5 s.
	HeartbeatInterval time.Duration
	// WriteWait bounds every write to the client; a client that does not
	// take a write within it is dropped. Default 10 s.
	WriteWait time.Duration
	// Retry is the reconnection delay sent to the client in the "retry:"
	// field of every stream. Default 2 s.
	Retry time.Duration
	// ShutdownJitter is the largest random delay added to Retry in the
	// "retry:" hint written when the hub shuts down, so that clients do not
	// all come back at once. Default 5 s.
	ShutdownJitter time.Duration
	// NoHijack keeps HTTP/1.x streams inside net/http instead of taking
	// their connections over. Taken over, an idle stream costs one small
	// goroutine and no net/http buffers (about a third of the memory), but
	// http.Server.Shutdown and middleware no longer see it, and a client
	// that leaves is noticed at the next heartbeat. HTTP/2 streams always
	// stay in net/http. Default false.
	NoHijack bool
	// Logger receives attach/detach debug lines and write errors.
	// Default: disabled.
	Logger zerolog.Logger
}

// Defaults of Config.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultWriteWait         = 10 * time.Second
	DefaultRetry             = 2 * time.Second
	DefaultShutdownJitter    = 5 * time.Second
)

func (c Config) withDefaults() Config {
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.WriteWait <= 0 {
		c.WriteWait = DefaultWriteWait
	}
	if c.Retry <= 0 {
		c.Retry = DefaultRetry
	}
	if c.ShutdownJitter <= 0 {
		c.ShutdownJitter = DefaultShutdownJitter
	}
	return c
}

// Handler serves GET /sse?conn_id=<uuid>. Create it with New; it is safe
// for concurrent use.
type Handler struct {
	cfg Config
	hub *core.Hub
	log zerolog.Logger
	// hello is the first bytes of every stream: a comment that makes
	// proxies pass the headers on, and the reconnection delay.
	hello []byte

	pump *pump.Pump // writes published batches to idle taken-over streams

	streams  drain.Group // streams being written
	stopping atomic.Bool // Shutdown was called
}

// New returns a Handler with cfg's defaults filled in. It panics when
// cfg.Hub is nil: that is a wiring bug, not a runtime condition.
func New(cfg Config) *Handler {
	if cfg.Hub == nil {
		panic("sse: Config.Hub is required")
	}
	cfg = cfg.withDefaults()
	hello := append([]byte(":ok\n\n"), retryField(cfg.Retry)...)
	return &Handler{cfg: cfg, hub: cfg.Hub, log: cfg.Logger, hello: hello, pump: pump.New(0)}
}

// ServeHTTP validates conn_id, attaches to the connection (resuming after
// Last-Event-ID or cursor when the client sends one) and streams its frames until the
// client goes away or the hub ends the session.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	connID, errs := parseConnID(r.URL.Query())
	if errs != nil {
		writeJSON(w, http.StatusUnprocessableEntity, errs)
		return
	}
	opts := core.AttachOptions{Transport: "sse"}
	resumePoint(r).Apply(&opts)
	if h.stopping.Load() {
		h.attachFailed(w, connID, core.ErrDraining)
		return
	}
	sess, err := h.hub.Attach(connID, opts)
	if err == nil && h.stopping.Load() { // Shutdown ended the sessions meanwhile
		sess.Detach()
		err = core.ErrDraining
	}
	if err != nil {
		h.attachFailed(w, connID, err)
		return
	}
	h.log.Debug().Str("conn_id", connID).Bool("resume", opts.Resume).Uint64("last_seq", opts.LastSeq).
		Bool("cursor", opts.Cursor != "").Msg("sse attached")
	h.streamStarted()
	if !h.cfg.NoHijack && r.ProtoMajor == 1 && h.takeOver(w, sess) {
		return
	}
	h.run(sess, newHTTPSink(w, r, h.cfg.WriteWait))
}

// attachFailed answers a request the hub did not attach.
func (h *Handler) attachFailed(w http.ResponseWriter, connID string, err error) {
	switch {
	case errors.Is(err, core.ErrUnknownConn):
		// EventSource stops reconnecting on a non-200 answer: intended, the
		// app has to /connect again.
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown connection"})
	case errors.Is(err, core.ErrDraining):
		after := h.cfg.Retry + h.jitter()
		w.Header().Set("Retry-After", strconv.Itoa(int((after+time.Second-1)/time.Second)))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "server is shutting down, retry later"})
	case errors.Is(err, core.ErrUnavailable):
		// The backend is away (data-plane mode): nothing changed, the
		// client's library tries again (EventSource itself gives up).
		h.log.Warn().Err(err).Str("conn_id", connID).Msg("sse attach refused: backend unavailable")
		after := h.cfg.Retry + h.jitter()
		w.Header().Set("Retry-After", strconv.Itoa(int((after+time.Second-1)/time.Second)))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "service unavailable: backend unavailable; retry later"})
	default:
		h.log.Error().Err(err).Str("conn_id", connID).Msg("sse attach")
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
	}
}

// takeOver hijacks an HTTP/1.x connection and hands it to a new writer
// goroutine, so that the request's goroutine, its large stack and net/http's
// buffers go away. It reports false, with nothing done, when the
// ResponseWriter cannot be hijacked.
func (h *Handler) takeOver(w http.ResponseWriter, sess *core.Session) bool {
	hdr := w.Header().Clone() // what middleware set (CORS) goes out too
	conn, _, err := http.NewResponseController(w).Hijack()
	switch {
	case err == nil:
		go h.run(sess, newConnSink(conn, hdr, h.cfg.WriteWait))
	case errors.Is(err, http.ErrNotSupported):
		return false
	default:
		h.streamEnded()
		h.detach(sess, "hijack failed", err)
	}
	return true
}

// parseConnID validates the conn_id query parameter. It returns the
// canonical id, or the body of the 422 answer.
func parseConnID(q url.Values) (string, map[string][]string) {
	raw, ok := q["conn_id"]
	if !ok || len(raw) == 0 {
		return "", map[string][]string{"conn_id": {"Missing data for required field."}}
	}
	connID, ok := core.ParseUUID(raw[0])
	if !ok {
		return "", map[string][]string{"conn_id": {"Not a valid UUID."}}
	}
	return connID, nil
}

// resumePoint reads the resume point: the Last-Event-ID header, or the
// last_event_id / lastEventId query parameter that EventSource polyfills
// send (the first of them that is not empty), a seq or a resume cursor
// (core.Cursor); when that is absent or neither, the cursor query
// parameter, which channelstream.js sends when it switches to SSE from
// another transport. Anything else is ignored (PROTOCOL §3.2: never a 400).
func resumePoint(r *http.Request) resume.Point {
	q := r.URL.Query()
	v := r.Header.Get("Last-Event-ID")
	for _, k := range []string{"last_event_id", "lastEventId"} {
		if v == "" {
			v = q.Get(k)
		}
	}
	if p, ok := resume.FromEventID(v); ok {
		return p
	}
	p, _ := resume.FromEventID(q.Get("cursor"))
	return p
}

// jitter is a random delay in [0, ShutdownJitter).
func (h *Handler) jitter() time.Duration {
	return rand.N(h.cfg.ShutdownJitter)
}

// retryField is the "retry:" field for d, as its own (data-less) event.
func retryField(d time.Duration) []byte {
	b := append([]byte("retry: "), strconv.FormatInt(d.Milliseconds(), 10)...)
	return append(b, "\n\n"...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
