package websocket

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/internal/writer"
)

const (
	// closeGrace is how long a closing socket waits for the client to answer
	// its close frame before the TCP connection is closed.
	closeGrace = time.Second
	// controlWait bounds the write of a pong or close frame answering the
	// client (gorilla's default handlers wait as long).
	controlWait = time.Second
	// maxBatchFrames caps the frames of one text frame; the rest follow in
	// the next one (Session.Next wakes the writer again).
	maxBatchFrames = 256
	// leaveWait bounds the removal of a connection whose client closed
	// with a code that means it left (see leaving).
	leaveWait = 5 * time.Second
)

// leaving reports whether a close code the client sent means that it left
// for good: 1000 (normal closure, e.g. ws.close()), 1001 (going away: a
// closed tab) or no code at all (1005). Every other code, 4000-4999 in
// particular (channelstream.js closes with 4001 when it reconnects or
// switches transport), keeps the connection for resume, as a socket that
// drops without a close frame does.
func leaving(code int) bool {
	return code == gws.CloseNormalClosure || code == gws.CloseGoingAway || code == gws.CloseNoStatusReceived
}

// socket is one attached WebSocket.
type socket struct {
	h        *Handler
	ws       *gws.Conn
	sess     *core.Session
	out      *sockConn     // ws.NetConn()
	readDone chan struct{} // closed when readLoop returns
	// heard is when the client was last heard from (any frame, pongs
	// included), in monotonic nanoseconds (see clock): written by the
	// reader, checked by the writer at each heartbeat. A pong that
	// sockConn takes out of the stream counts at the time of the last
	// ping (sockConn.pongs), never later than it arrived.
	heard atomic.Int64
	// closeSent is set before the server's close frame is written: a
	// client close frame after it is an echo, not a leave. left is set by
	// the reader when the client closed first with a leaving code.
	closeSent, left atomic.Bool
	// state says who closes the network connection (connOpen...).
	state atomic.Int32

	// beat is the writer's timer: it fires for the next heartbeat, for
	// the socket's moment to close once Shutdown began, and when the
	// handler's shutdown phase changes (see registry).
	beat *time.Timer
	// The writer's own state, in clock nanoseconds: the next heartbeat,
	// and the moment to close (0: not set).
	nextBeat, closeAt int64
	// spread is the socket's offset within its heartbeat moments
	// (writer.Spread): a heartbeat due after the handler's pump ran
	// (runs is the last reading of pump.Runs) waits for it, and
	// spreading marks that wait.
	spread    time.Duration
	runs      uint64
	spreading bool

	// w is the socket's write path, shared by the writer and the
	// handler's pump; every frame gorilla writes takes its lock too (see
	// sockConn.Write).
	w writer.Stream

	prev, next *socket // in Handler.sockets; guarded by its mutex
}

func newSocket(h *Handler, ws *gws.Conn, sess *core.Session) *socket {
	out, ok := ws.NetConn().(*sockConn)
	if !ok { // not hijacked through hijacker
		out = newSockConn(ws.NetConn())
	}
	s := &socket{h: h, ws: ws, sess: sess, out: out, readDone: make(chan struct{})}
	out.w.Init(out.Conn, h.cfg.WriteWait)
	var now *writer.Conn
	if out.w.NeverWaits() {
		now = &out.w
	}
	s.w.Init(sess, s, &out.w, now)
	out.stream = &s.w
	s.heard.Store(clock(time.Now()))
	out.pinged.Store(s.heard.Load())
	out.heard = &s.heard
	return s
}

// epoch is the origin of clock.
var epoch = time.Now()

// clock is t in nanoseconds since epoch on the monotonic clock, which a
// change of the wall clock does not move.
func clock(t time.Time) int64 { return int64(t.Sub(epoch)) }

// writeLoop is the socket's writer goroutine (the pump writes published
// batches too, under the same write lock, see writer.Stream). It returns when the
// socket is over, detaching the session and closing the network connection.
//
// Its select has three cases (each parked case costs a sudog, and each
// costs work at every wake-up, the most frequent thing a writer does): the
// reader's exit arrives through Session.Done, because the reader closes
// readDone and then calls Session.Detach; and Shutdown arrives through the
// heartbeat timer (see registry). The rare paths live in their own
// functions, so that the loop's frame, and the stack of a parked writer,
// stay small.
func (s *socket) writeLoop() {
	defer s.h.release()
	defer s.closeConn()
	defer s.sess.Detach()
	start := time.Now()
	s.nextBeat = clock(start) + int64(writer.UntilPing(s.h.cfg.HeartbeatInterval, start))
	s.spread, s.runs = writer.Spread(s.h.cfg.HeartbeatInterval), s.h.pump.Runs()
	s.beat = time.NewTimer(time.Duration(s.nextBeat - clock(start)))
	defer s.beat.Stop()
	s.h.sockets.add(s)
	defer s.h.sockets.remove(s)
	if s.w.Pumped() {
		s.sess.Notify(s.h.pump.Task(s.w.Push).Ready)
	}
	for {
		var err error
		select {
		case <-s.sess.Ready():
			err = s.w.Flush()
		case now := <-s.beat.C:
			var done bool
			if done, err = s.onBeat(now); done {
				return
			}
		case <-s.sess.Done():
			s.sessionEnded()
			return
		}
		if err != nil {
			s.ended(err)
			return
		}
	}
}

// onBeat handles the beat timer: the heartbeat when it is due and, once
// Shutdown began, the socket's moment to close, drawn at random in the
// shutdown window the first time; when Shutdown gave up waiting, the
// socket ends at once. It reports whether the writer is done.
func (s *socket) onBeat(now time.Time) (done bool, err error) {
	phase, at := s.h.sockets.phase.Load(), clock(now)
	switch {
	case phase == phaseKilled:
		s.ended(errKilled)
		return true, nil
	case phase == phaseClosing && s.closeAt == 0:
		s.closeAt = at + 1 + int64(rand.N(time.Duration(s.h.window.Load())))
	case phase == phaseClosing && at >= s.closeAt:
		s.restart()
		return true, nil
	}
	switch {
	case at < s.nextBeat:
	case !s.spreading && s.flowed():
		// Frames flow: this heartbeat waits for its sub-moment instead
		// of holding up deliveries with the rest of its moment.
		s.spreading = true
		s.nextBeat += int64(s.spread)
	default:
		s.spreading = false
		if err := s.heartbeat(now); err != nil {
			return false, err
		}
		s.nextBeat = at + int64(writer.UntilPing(s.h.cfg.HeartbeatInterval, now))
	}
	next := s.nextBeat
	if s.closeAt != 0 {
		next = min(next, s.closeAt)
	}
	// The registry's wake-up may come just before this Reset, which
	// undoes it: check the phase after.
	s.beat.Reset(time.Duration(next - at))
	if s.h.sockets.phase.Load() != phase {
		s.beat.Reset(0)
	}
	return false, nil
}

// flowed reports whether the handler's pump wrote frames since the last
// call, and the socket has a sub-moment to wait for.
func (s *socket) flowed() bool {
	runs := s.h.pump.Runs()
	flowed := runs != s.runs
	s.runs = runs
	return flowed && s.spread > 0
}

// sessionEnded closes the socket once the session ended: with the hub's
// reason, or without a close frame when the reader detached it.
func (s *socket) sessionEnded() {
	if s.readerGone() {
		s.ended(errClientGone)
	} else {
		s.close(s.sess.Reason())
	}
}

// restart hands over what is waiting, then asks the client to come back.
func (s *socket) restart() {
	if err := s.w.Flush(); err != nil {
		s.ended(err)
		return
	}
	s.sess.Detach() // before the close frame: the client may come back at once
	s.close(core.DisconnectShutdown)
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
	errSilent     = errors.New("client silent for longer than the pong wait")
)

// Frame is the socket's writer.Framer: the frames waiting for the
// session as one text frame, its header written into the room kept in
// front of the JSON list.
func (s *socket) Frame(buf []byte) (b []byte, start, n int) {
	buf = append(buf, make([]byte, headerRoom)...)
	buf, n, _ = s.sess.Next(buf, maxBatchFrames)
	if n == 0 {
		return buf, 0, 0
	}
	return buf, putTextHeader(buf, len(buf)-headerRoom), n
}

// heartbeat runs at every heartbeat (see writer.UntilPing). A client
// silent for longer than PongWait is cut. The others get a ping, preceded
// by [] when no batch went out since the last heartbeat, in one write.
func (s *socket) heartbeat(now time.Time) error {
	if clock(now)-s.heard.Load() > int64(s.h.cfg.PongWait) {
		return errSilent
	}
	err := s.w.Lock()
	defer s.w.Unlock()
	if err != nil {
		return err
	}
	frames := heartbeatFrames
	if s.w.TakeSent() {
		frames = pingFrame
	}
	s.out.pinged.Store(clock(now))
	if err := s.w.Write(frames); err != nil {
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
	// Under the write lock, after any rest of a batch (sockConn.Write).
	s.closeSent.Store(true)
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

// readLoop reads and discards client frames until reading fails, noting
// when the client was last heard from (pongs included) and touching the
// session for each data frame. Then it closes the network connection (so
// that a writer blocked on a dead peer returns at once; after a frame it
// refused, once the client had the time to read what came before the
// close frame, see linger) and readDone, and
// detaches the session, which wakes the writer. By the time NextReader
// fails, gorilla has already answered a client's close frame, or sent 1009
// or 1002 for an oversized or malformed frame. It sets no read deadline (a
// runtime timer to move on every pong): the writer cuts a silent client at
// its heartbeat, which ends this read. When the client closed first with a
// code that means it left (see leaving), the connection is removed at once
// after the detach (Session.Leave), unless another socket attached since.
func (s *socket) readLoop() {
	defer s.leave()
	defer s.sess.Detach() // wakes the writer through Session.Done
	defer close(s.readDone)
	defer s.ws.Close()
	ws := s.ws
	ws.SetReadLimit(s.h.cfg.MaxMessageSize)
	ws.SetPongHandler(s.pong)
	ws.SetPingHandler(s.answerPing)
	ws.SetCloseHandler(s.answerClose)
	for {
		_, r, err := ws.NextReader()
		if err == nil {
			_, err = io.Copy(io.Discard, r) // a continuation may be refused too
		}
		if err != nil {
			if refusedFrame(err) {
				s.linger()
			}
			return
		}
		s.heard.Store(clock(time.Now()))
		s.sess.Touch()
	}
}

// answerPing answers a client's ping with a pong, as gorilla's default
// handler does, but under the write lock (see sockConn.Write), ignoring
// the errors of a socket that is ending.
func (s *socket) answerPing(data string) error {
	err := s.ws.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(controlWait))
	var ne net.Error
	if errors.Is(err, gws.ErrCloseSent) || errors.As(err, &ne) {
		return nil
	}
	return err
}

// answerClose echoes a client's close frame, as gorilla's default handler
// does (under the write lock, see sockConn.Write).
func (s *socket) answerClose(code int, _ string) error {
	if leaving(code) && !s.closeSent.Load() {
		s.left.Store(true)
	}
	_ = s.ws.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(code, ""), time.Now().Add(controlWait))
	return nil
}

// leave removes the connection of a client that closed with a leaving
// code; it runs on the reader after the session's detach.
func (s *socket) leave() {
	if !s.left.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaveWait)
	defer cancel()
	removed, err := s.sess.Leave(ctx)
	ev := s.h.log.Debug()
	if err != nil {
		ev = s.h.log.Warn().Err(err)
	}
	ev.Str("conn_id", s.sess.ConnID()).Bool("removed", removed).Msg("websocket client left")
}

// pong notes a pong from the client.
func (s *socket) pong(string) error {
	s.heard.Store(clock(time.Now()))
	return nil
}
