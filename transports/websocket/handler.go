package websocket

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/internal/drain"
	"github.com/channelstream-go/channelstream-go/transports/internal/resume"
	"github.com/channelstream-go/channelstream-go/transports/pump"
)

// Buffer sizes. Client frames are tiny keep-alives, so the per-socket read
// buffer is small (gorilla reads larger frames straight past it); write
// buffers are shared through writeBufferPool and held only during a write.
const (
	readBufferSize  = 256
	writeBufferSize = 4 << 10
)

// writeBufferPool lends gorilla its frame buffers for the duration of one
// write, so that an idle socket holds none.
var writeBufferPool = &sync.Pool{}

// Close reasons of the transport itself (the hub's are core.Disconnect*).
var (
	// disconnectUnknown closes a socket whose conn_id the hub does not know,
	// with upstream's code 1000.
	disconnectUnknown = core.Disconnect{Code: gws.CloseNormalClosure, Reason: "unknown connection"}
	// disconnectInternal closes a socket the hub refused for another reason.
	disconnectInternal = core.Disconnect{Code: gws.CloseInternalServerErr, Reason: "internal error"}
)

// Handler serves GET /ws. Create it with New.
type Handler struct {
	cfg      Config
	hub      *core.Hub
	log      zerolog.Logger
	upgrader gws.Upgrader

	open drain.Group // sockets being upgraded or attached

	sockets      registry   // attached sockets and the shutdown phase
	pump         *pump.Pump // writes published frames to idle sockets
	shutdownOnce sync.Once
	closing      chan struct{} // closed by Shutdown
	window       atomic.Int64  // ns over which sockets close; set before closing is closed
	killOnce     sync.Once
	kill         chan struct{} // closed when Shutdown gives up waiting
}

// New returns a handler with cfg's defaults filled in. It panics when
// cfg.Hub is nil.
func New(cfg Config) *Handler {
	cfg = cfg.withDefaults()
	h := &Handler{
		cfg:     cfg,
		hub:     cfg.Hub,
		log:     cfg.Logger,
		closing: make(chan struct{}),
		kill:    make(chan struct{}),
	}
	h.pump = pump.New(0)
	h.upgrader = gws.Upgrader{
		HandshakeTimeout: cfg.WriteWait,
		ReadBufferSize:   readBufferSize,
		WriteBufferSize:  writeBufferSize,
		WriteBufferPool:  writeBufferPool,
		CheckOrigin:      cfg.CheckOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeError(w, status, reason.Error())
		},
	}
	return h
}

// Open reports how many sockets are open (being upgraded or attached).
func (h *Handler) Open() int { return h.open.Len() }

// ServeHTTP validates the query, upgrades the request and attaches the
// socket to its connection. It returns once the socket's goroutines run.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !gws.IsWebSocketUpgrade(r) {
		writeError(w, http.StatusBadRequest, "websocket: GET /ws?conn_id=<uuid> needs a WebSocket handshake (Connection: Upgrade, Upgrade: websocket)")
		return
	}
	p, errs, disagree := parseParams(r.URL.Query())
	switch {
	case errs != nil:
		writeJSON(w, http.StatusUnprocessableEntity, errs)
		return
	case disagree:
		writeError(w, http.StatusBadRequest, resume.MsgDisagree)
		return
	}
	// Attach before the upgrade, so that a client whose handshake completed
	// is already attached: nothing published after it opened is marked
	// catchup. Refusals are sent after the upgrade, as a close frame, but
	// for a backend that is away: that is answered 503 before it, nothing
	// changed, and the client tries again.
	var refusal *core.Disconnect
	opts := core.AttachOptions{Transport: "websocket"}
	p.at.Apply(&opts)
	sess, err := h.hub.Attach(p.connID, opts)
	switch {
	case h.shuttingDown() || errors.Is(err, core.ErrDraining):
		refusal = &core.DisconnectShutdown
	case errors.Is(err, core.ErrUnavailable):
		h.log.Warn().Err(err).Str("conn_id", p.connID).Msg("websocket attach refused: backend unavailable")
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "service unavailable: backend unavailable; retry later")
		return
	case errors.Is(err, core.ErrUnknownConn):
		refusal = &disconnectUnknown
	case err != nil:
		h.log.Error().Err(err).Str("conn_id", p.connID).Msg("websocket attach failed")
		refusal = &disconnectInternal
	}
	if refusal != nil && sess != nil {
		sess.Detach()
	}
	h.open.Add()
	ws, err := h.upgrader.Upgrade(hijacker{w}, r, nil)
	if err != nil {
		// The upgrader already answered with Upgrader.Error.
		h.log.Debug().Err(err).Str("conn_id", p.connID).Msg("websocket upgrade failed")
		if sess != nil && refusal == nil {
			sess.Detach()
		}
		h.release()
		return
	}
	if refusal != nil {
		h.refuse(ws, p.connID, *refusal)
		return
	}
	s := newSocket(h, ws, sess)
	h.log.Debug().Str("conn_id", p.connID).Bool("resume", p.at.Resume).Uint64("last_seq", p.at.LastSeq).
		Stringer("remote", ws.RemoteAddr()).Msg("websocket attached")
	go s.readLoop()
	go s.writeLoop()
}

// refuse closes a socket that could not be attached with d.
func (h *Handler) refuse(ws *gws.Conn, connID string, d core.Disconnect) {
	defer h.release()
	defer ws.Close()
	h.log.Debug().Str("conn_id", connID).Int("code", d.Code).Str("reason", d.Reason).Msg("websocket refused")
	if err := writeClose(ws, d, h.cfg.WriteWait); err != nil {
		return
	}
	// Wait for the client's close frame (or anything else: its content
	// does not matter) so that it reads ours before the TCP close.
	_ = ws.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		if _, _, err := ws.NextReader(); err != nil {
			return
		}
	}
}

// release forgets one open socket.
func (h *Handler) release() { h.open.Done() }

func (h *Handler) shuttingDown() bool {
	select {
	case <-h.closing:
		return true
	default:
		return false
	}
}

// Shutdown refuses new sockets (they are upgraded and closed with 1012) and
// closes every open socket with 1012 "service restart", each at a random
// moment of Config.ShutdownWindow, or of three quarters of the time left
// before ctx's deadline when that is shorter. It returns nil when every
// socket is gone; when ctx ends first it closes the rest at once (without a
// close frame) and returns ctx's error. Call hub.Drain as well so that other
// transports refuse attachments too.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.shutdownOnce.Do(func() {
		window := h.cfg.ShutdownWindow
		if d, ok := ctx.Deadline(); ok {
			window = min(window, time.Until(d)*3/4)
		}
		h.window.Store(int64(max(window, time.Millisecond)))
		close(h.closing)
		h.sockets.enter(phaseClosing)
	})
	err := h.open.Wait(ctx)
	if err != nil {
		h.killOnce.Do(func() {
			close(h.kill)
			h.sockets.enter(phaseKilled)
		})
	}
	return err
}
