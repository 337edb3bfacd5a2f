package websocket

import (
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/core"
)

const (
	// closeGrace is how long a closing socket waits for the client to answer
	// its close frame before the TCP connection is closed.
	closeGrace = time.Second
	// maxBatchFrames caps the frames of one text frame; the rest follow in
	// the next one (Session.Next wakes the writer again).
	maxBatchFrames = 256
	// maxPooledBatch is the largest batch buffer kept for reuse; a larger
	// one (a big catch-up) goes to the garbage collector.
	maxPooledBatch = 64 << 10
)

// heartbeatFrame is the heartbeat: an empty list of frames.
var heartbeatFrame = []byte("[]")

// batchPool holds the buffers Session.Next appends to, so that an idle
// socket holds none.
var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// socket is one attached WebSocket.
type socket struct {
	h        *Handler
	ws       *gws.Conn
	sess     *core.Session
	readDone chan struct{} // closed when readLoop returns
}

// writeLoop is the socket's only writer of data frames. It returns when the
// socket is over, detaching the session and closing the network connection.
//
// Its select has four cases while the socket is idle (each parked case costs
// a sudog): the reader's exit arrives through Session.Done, because the
// reader closes readDone and then calls Session.Detach; and the shutdown
// signals share one case, stop, which is Handler.closing and then
// Handler.kill.
func (s *socket) writeLoop() {
	defer s.h.release()
	defer s.ws.Close()
	defer s.sess.Detach()
	heartbeat := time.NewTicker(s.h.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	stop, stopping := s.h.closing, false
	var restart <-chan time.Time
	for {
		select {
		case <-s.sess.Ready():
			if err := s.flush(); err != nil {
				s.ended(err)
				return
			}
		case <-heartbeat.C:
			if err := s.heartbeat(); err != nil {
				s.ended(err)
				return
			}
		case <-s.sess.Done():
			if s.readerGone() {
				s.ended(errClientGone)
			} else {
				s.close(s.sess.Reason())
			}
			return
		case <-stop:
			if stopping { // Shutdown gave up waiting
				s.ended(errKilled)
				return
			}
			stop, stopping = s.h.kill, true
			t := time.NewTimer(rand.N(time.Duration(s.h.window.Load())))
			defer t.Stop()
			restart = t.C
		case <-restart:
			// Hand over what is waiting, then ask the client to come back.
			if err := s.flush(); err != nil {
				s.ended(err)
				return
			}
			s.sess.Detach() // before the close frame: the client may come back at once
			s.close(core.DisconnectShutdown)
			return
		}
	}
}

// readerGone reports whether readLoop has returned.
func (s *socket) readerGone() bool {
	select {
	case <-s.readDone:
		return true
	default:
		return false
	}
}

var (
	errClientGone = errors.New("client went away")
	errKilled     = errors.New("shutdown deadline passed")
)

// flush writes the frames waiting for the session as one text frame.
func (s *socket) flush() error {
	bp := batchPool.Get().(*[]byte)
	out, n, _ := s.sess.Next((*bp)[:0], maxBatchFrames)
	var err error
	if n > 0 {
		if err = s.ws.SetWriteDeadline(time.Now().Add(s.h.cfg.WriteWait)); err == nil {
			err = s.ws.WriteMessage(gws.TextMessage, out)
		}
		if err == nil {
			s.sess.Touch()
			s.sess.Written()
		}
	}
	if cap(out) <= maxPooledBatch {
		*bp = out[:0]
		batchPool.Put(bp)
	}
	return err
}

// heartbeat writes [] and a ping.
func (s *socket) heartbeat() error {
	deadline := time.Now().Add(s.h.cfg.WriteWait)
	if err := s.ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if err := s.ws.WriteMessage(gws.TextMessage, heartbeatFrame); err != nil {
		return err
	}
	if err := s.ws.WriteControl(gws.PingMessage, nil, deadline); err != nil {
		return err
	}
	s.sess.Touch()
	return nil
}

// close sends the close frame for d and waits up to closeGrace for the
// client's answer (the reader sees it and returns).
func (s *socket) close(d core.Disconnect) {
	log := s.h.log.Debug()
	if d == core.DisconnectSlow {
		log = s.h.log.Warn()
	}
	log.Str("conn_id", s.sess.ConnID()).Int("code", d.Code).Str("reason", d.Reason).
		Stringer("remote", s.ws.RemoteAddr()).Msg("websocket closed by server")
	if err := writeClose(s.ws, d, s.h.cfg.WriteWait); err != nil {
		return
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-s.readDone:
	case <-t.C:
	case <-s.h.kill:
	}
}

// ended logs a socket that ended without a close frame of ours.
func (s *socket) ended(err error) {
	s.h.log.Debug().Err(err).Str("conn_id", s.sess.ConnID()).
		Stringer("remote", s.ws.RemoteAddr()).Msg("websocket ended")
}

// writeClose sends a close frame for d.
func writeClose(ws *gws.Conn, d core.Disconnect, wait time.Duration) error {
	return ws.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(d.Code, d.Reason), time.Now().Add(wait))
}

// readLoop reads and discards client frames until reading fails. Then it
// closes the network connection (so that a writer blocked on a dead peer
// returns at once) and readDone, and detaches the session, which wakes the
// writer. By the time NextReader fails, gorilla has already answered a
// client's close frame, or sent 1009 or 1002 for an oversized or malformed
// frame.
func (s *socket) readLoop() {
	defer s.sess.Detach() // wakes the writer through Session.Done
	defer close(s.readDone)
	defer s.ws.Close()
	ws, pongWait := s.ws, s.h.cfg.PongWait
	ws.SetReadLimit(s.h.cfg.MaxMessageSize)
	_ = ws.SetReadDeadline(time.Now().Add(pongWait))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		_, r, err := ws.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
		_ = ws.SetReadDeadline(time.Now().Add(pongWait))
		s.sess.Touch()
	}
}
