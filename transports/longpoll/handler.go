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

// Handler serves GET /listen?conn_id=<uuid>[&last_seq=N][&cursor=C][&callback=cb].
// Create it with New.
type Handler struct {
	cfg Config
	hub *core.Hub
	log zerolog.Logger

	pending atomic.Int64 // polls attached and waiting for frames
	// followed counts the follow-up requests read by the handler itself
	// (see follow).
	followed atomic.Int64

	polls drain.Group // polls past validation, not yet finished

	mu       sync.Mutex
	stopping bool          // Shutdown was called
	stop     chan struct{} // closed by Shutdown
	// backs hands answered connections back to the servers they came
	// from (see handBack).
	backs map[*http.Server]*backListener
	// held are the polls waiting on taken-over connections, which
	// Shutdown stops (see hold).
	held map[*held]struct{}
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

// FollowUps reports how many requests the handler read itself on the
// kept-alive connections of answered polls, instead of net/http (see
// held.follow).
func (h *Handler) FollowUps() int64 { return h.followed.Load() }

// ServeHTTP answers one poll. It validates the query, attaches to the
// connection, waits (see Config.Timeout and Config.Gather) and writes one
// JSON list, or nothing at all when the client went away first. It sets
// only its own headers, leaving those of earlier middleware (CORS) alone.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, rej := parseQuery(r.URL.RawQuery)
	if rej != nil {
		writeReject(w, *rej)
		return
	}
	if !h.enter() {
		writeReject(w, rejectDraining)
		return
	}
	defer h.leave()

	opts := core.AttachOptions{
		Transport: "longpoll",
		// In a cluster the node keeps holding the connection between
		// polls: a client that does not poll again within a poll's
		// length has gone.
		Linger: h.cfg.Timeout,
	}
	req.at.Apply(&opts)
	s, err := h.hub.Attach(req.connID, opts)
	switch {
	case errors.Is(err, core.ErrUnknownConn):
		writeUnauthorized(w, r)
		return
	case errors.Is(err, core.ErrDraining):
		writeReject(w, rejectDraining)
		return
	case errors.Is(err, core.ErrUnavailable):
		// The backend is away (data-plane mode): nothing changed, the
		// client polls again after Retry-After.
		h.log.Warn().Err(err).Str("conn_id", req.connID).Msg("longpoll attach refused: backend unavailable")
		writeReject(w, rejectUnavailable)
		return
	case err != nil:
		h.log.Error().Err(err).Str("conn_id", req.connID).Msg("longpoll attach failed")
		writeReject(w, reject{http.StatusInternalServerError, `{"error":"internal error"}`})
		return
	}

	h.pending.Add(1)
	if r.ProtoMajor == 1 && h.takeOver(w, r, s, req) {
		return
	}
	end := h.wait(r.Context().Done(), s)
	h.pending.Add(-1)
	if end == endClientGone {
		h.clientGone(s)
		return
	}
	h.answer(w, s, req, end)
}

// clientGone ends a poll whose client left before the answer. Nothing was
// taken from the queue: it all waits for the next poll.
func (h *Handler) clientGone(s *core.Session) {
	s.Detach()
	h.log.Debug().Str("conn_id", s.ConnID()).Msg("longpoll client gone")
}

// answer takes the waiting frames, detaches, writes them and acknowledges
// them when the client has no cursor of its own.
func (h *Handler) answer(w http.ResponseWriter, s *core.Session, req pollRequest, end ending) {
	a := h.take(s, req)
	setAnswerHeaders(w.Header(), req, len(a.body))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(a.body)
	if err == nil {
		err = http.NewResponseController(w).Flush()
		if errors.Is(err, http.ErrNotSupported) {
			err = nil
		}
	}
	h.finish(s, req, end, a, err)
}

// taken is an answer's body and what it took from the session.
type taken struct {
	bp   *[]byte // the pooled buffer of body
	body []byte
	from uint64 // the session's position before
	n    int    // frames (and gap objects) in body
	last uint64 // seq of the last one
}

// take takes the waiting frames as the answer's body (wrapped in the JSONP
// callback when there is one) and detaches: frames queued from now on are
// catchup for the next poll.
func (h *Handler) take(s *core.Session, req pollRequest) taken {
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	if req.callback != "" {
		buf = append(buf, req.callback...)
		buf = append(buf, '(')
	}
	from := s.Position()
	buf, n, last := s.Next(buf, h.cfg.MaxFrames)
	s.Detach()
	if n == 0 {
		buf = append(buf, "[]"...)
	}
	if req.callback != "" {
		buf = append(buf, ')')
	}
	return taken{bp: bp, body: buf, from: from, n: n, last: last}
}

// setAnswerHeaders sets the headers of an answer of n body bytes.
func setAnswerHeaders(hdr http.Header, req pollRequest, n int) {
	if req.callback != "" {
		hdr.Set("Content-Type", "application/javascript")
	} else {
		hdr.Set("Content-Type", "application/json")
	}
	hdr.Set("Content-Length", strconv.Itoa(n))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
}

// finish settles an answer once written (err: the write's error):
// delivered frames count as written and, without last_seq, acknowledged;
// frames whose answer failed are handed to the next poll again.
func (h *Handler) finish(s *core.Session, req pollRequest, end ending, a taken, err error) {
	if err == nil {
		s.Written()
	}
	switch {
	case err != nil:
		s.Rewind(a.from)
		h.log.Debug().Err(err).Str("conn_id", s.ConnID()).Int("frames", a.n).Msg("longpoll write failed")
	case !req.at.Resume && a.n > 0:
		s.Ack(a.last)
	}
	s.Touch()
	h.log.Debug().Str("conn_id", s.ConnID()).Int("frames", a.n).Uint64("last_seq", a.last).
		Str("end", end.String()).Msg("longpoll answered")
	putBuf(a.bp, a.body)
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

// hold lists a held poll for Shutdown; it reports false, listing nothing,
// once Shutdown was called.
func (h *Handler) hold(p *held) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		return false
	}
	if h.held == nil {
		h.held = map[*held]struct{}{}
	}
	h.held[p] = struct{}{}
	return true
}

// release unlists a held poll.
func (h *Handler) release(p *held) {
	h.mu.Lock()
	delete(h.held, p)
	h.mu.Unlock()
}

// Shutdown makes every waiting poll answer at once with what it has,
// refuses new polls with 503, and waits until the running polls are
// written or ctx is done (returning ctx's error). It may be called more
// than once.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	var held []*held
	if !h.stopping {
		h.stopping = true
		close(h.stop)
		for p := range h.held {
			held = append(held, p)
		}
	}
	h.mu.Unlock()
	for _, p := range held {
		p.stop(endShutdown)
	}
	return h.polls.Wait(ctx)
}
