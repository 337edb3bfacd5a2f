package longpoll

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/internal/drain"
)

// Handler serves GET /listen?conn_id=<uuid>[&last_seq=N][&callback=cb].
// Create it with New.
type Handler struct {
	cfg Config
	hub *core.Hub
	log zerolog.Logger

	pending atomic.Int64 // polls attached and waiting for frames

	polls drain.Group // polls past validation, not yet finished

	mu       sync.Mutex
	stopping bool          // Shutdown was called
	stop     chan struct{} // closed by Shutdown
}

// New returns a handler with cfg's defaults filled in. It panics when
// cfg.Hub is nil, a wiring mistake.
func New(cfg Config) *Handler {
	if cfg.Hub == nil {
		panic("longpoll: Config.Hub is required")
	}
	cfg = cfg.withDefaults()
	h := &Handler{cfg: cfg, hub: cfg.Hub, log: cfg.Logger, stop: make(chan struct{})}
	if ct := cfg.Hub.Config().ConnTimeout; cfg.Timeout >= ct {
		h.log.Warn().Dur("timeout", cfg.Timeout).Dur("conn_timeout", ct).
			Msg("longpoll timeout is not under conn_timeout: waiting polls may be collected")
	}
	return h
}

// Open reports how many polls are attached to their connection and
// waiting for frames right now.
func (h *Handler) Open() int { return int(h.pending.Load()) }

// Pending reports how many polls are waiting (as Open).
func (h *Handler) Pending() int { return h.Open() }

// ServeHTTP answers one poll. It validates the query, attaches to the
// connection, waits (see Config.Timeout and Config.Gather) and writes one
// JSON list, or nothing at all when the client went away first. It sets
// only its own headers, leaving those of earlier middleware (CORS) alone.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, rej := parseQuery(r.URL.Query())
	if rej != nil {
		writeReject(w, *rej)
		return
	}
	if !h.enter() {
		writeReject(w, rejectDraining)
		return
	}
	defer h.leave()

	s, err := h.hub.Attach(req.connID, core.AttachOptions{
		Transport: "longpoll", Resume: req.resume, LastSeq: req.lastSeq,
	})
	switch {
	case errors.Is(err, core.ErrUnknownConn):
		writeUnauthorized(w, r)
		return
	case errors.Is(err, core.ErrDraining):
		writeReject(w, rejectDraining)
		return
	case err != nil:
		h.log.Error().Err(err).Str("conn_id", req.connID).Msg("longpoll attach failed")
		writeReject(w, reject{http.StatusInternalServerError, `{"error":"internal error"}`})
		return
	}

	h.pending.Add(1)
	end := h.wait(r.Context(), s)
	h.pending.Add(-1)
	if end == endClientGone {
		// Nothing was taken from the queue: it all waits for the next poll.
		s.Detach()
		h.log.Debug().Str("conn_id", req.connID).Msg("longpoll client gone")
		return
	}
	h.answer(w, s, req, end)
}

// answer takes the waiting frames, detaches, writes them and acknowledges
// them when the client has no cursor of its own.
func (h *Handler) answer(w http.ResponseWriter, s *core.Session, req pollRequest, end ending) {
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	if req.callback != "" {
		buf = append(buf, req.callback...)
		buf = append(buf, '(')
	}
	from := s.Position()
	buf, n, last := s.Next(buf, h.cfg.MaxFrames)
	// Detach before writing: frames queued from now on are catchup for the
	// next poll.
	s.Detach()
	if n == 0 {
		buf = append(buf, "[]"...)
	}
	hdr := w.Header()
	if req.callback != "" {
		buf = append(buf, ')')
		hdr.Set("Content-Type", "application/javascript")
	} else {
		hdr.Set("Content-Type", "application/json")
	}
	hdr.Set("Content-Length", strconv.Itoa(len(buf)))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf)
	if err == nil {
		err = http.NewResponseController(w).Flush()
		if errors.Is(err, http.ErrNotSupported) {
			err = nil
		}
	}
	if err == nil {
		s.Written()
	}
	switch {
	case err != nil:
		// Not delivered: the next poll gets these frames again.
		s.Rewind(from)
		h.log.Debug().Err(err).Str("conn_id", s.ConnID()).Int("frames", n).Msg("longpoll write failed")
	case !req.resume && n > 0:
		s.Ack(last)
	}
	s.Touch()
	h.log.Debug().Str("conn_id", s.ConnID()).Int("frames", n).Uint64("last_seq", last).
		Str("end", end.String()).Msg("longpoll answered")
	putBuf(bp, buf)
}

// maxPooledBuf keeps one unusually large response from pinning its buffer.
const maxPooledBuf = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func putBuf(bp *[]byte, buf []byte) {
	if cap(buf) > maxPooledBuf {
		return
	}
	*bp = buf[:0]
	bufPool.Put(bp)
}

func writeReject(w http.ResponseWriter, rej reject) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	if rej.status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", "1")
	}
	w.WriteHeader(rej.status)
	_, _ = w.Write([]byte(rej.body))
}

// enter counts a poll in, unless Shutdown was called.
func (h *Handler) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		return false
	}
	h.polls.Add()
	return true
}

func (h *Handler) leave() { h.polls.Done() }

// Shutdown makes every waiting poll answer at once with what it has,
// refuses new polls with 503, and waits until the running polls are
// written or ctx is done (returning ctx's error). It may be called more
// than once.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	if !h.stopping {
		h.stopping = true
		close(h.stop)
	}
	h.mu.Unlock()
	return h.polls.Wait(ctx)
}
