package sse

import (
	"strconv"
	"sync"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

const (
	// prefixRoom is the room kept in front of every batch for the longest
	// "id: <seq>\ndata: " so that a whole event goes out in one write.
	prefixRoom = len("id: ") + len("18446744073709551615") + len("\ndata: ")
	// maxBatchFrames caps the frames of one event; the rest follow at once
	// in the next one.
	maxBatchFrames = 256
	// maxPooledBuffer is the largest batch buffer kept for reuse: a burst
	// must not pin its memory.
	maxPooledBuffer = 64 << 10
)

// heartbeat is the comment written every HeartbeatInterval. EventSource
// ignores it; proxies and the collector see a live stream.
var heartbeat = []byte(": hb\n\n")

// buffers holds batch buffers between events, so that an idle stream holds
// none.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// stream is one attached stream: its writer goroutine (run) and, on a
// taken-over socket, the handler's pump, which writes published batches
// without waking the writer (see push).
type stream struct {
	h    *Handler
	sess *core.Session
	out  sink

	// wmu is held by whoever writes to the client: the writer, or the
	// pump (which only tries it). It guards the fields below, out's
	// writes, and the session's Next and Written.
	wmu sync.Mutex
	// sent: an event went out since the last heartbeat.
	sent bool
	// rest is the tail of an event the pump could not send (the send
	// buffer was full), in the pooled buffer restBuf: the writer sends it,
	// within the write wait, before anything else. werr is the pump's
	// failed write: the writer ends the stream with it.
	rest    []byte
	restBuf *[]byte
	werr    error
}

// run is a stream's writer loop: the greeting, then batches when the
// session is ready (batches published while the stream is idle are
// written by the pump on a taken-over socket) and, at each heartbeat (see
// untilBeat) after which no event went out, a check that the client is
// still there and the heartbeat comment, until the client leaves, a write
// fails or the hub ends the session.
func (h *Handler) run(sess *core.Session, out sink) {
	defer h.streamEnded()
	defer out.close()
	if err := out.write(h.hello); err != nil {
		h.detach(sess, "greeting failed", err)
		return
	}
	sess.Touch()
	st := &stream{h: h, sess: sess, out: out}
	if cs, ok := out.(*connSink); ok && cs.out.raw != nil { // writes that never wait
		sess.Notify(h.pump.Task(st.push).Ready)
	}

	beat := time.NewTimer(h.untilBeat(time.Now()))
	defer beat.Stop()
	for {
		var err error
		select {
		case <-out.gone():
			h.detach(sess, "client left", nil)
			return
		case <-sess.Done():
			st.wmu.Lock()
			if err := st.settle(); err != nil { // never a field inside an event
				st.wmu.Unlock()
				h.detach(sess, "write failed", err)
				return
			}
			h.ended(sess, out)
			st.wmu.Unlock()
			return
		case <-sess.Ready():
			err = st.flush()
		case now := <-beat.C:
			beat.Reset(h.untilBeat(now))
			var left bool
			if left, err = st.heartbeat(); left {
				h.detach(sess, "client left", nil)
				return
			}
		}
		if err != nil {
			h.detach(sess, "write failed", err)
			return
		}
	}
}

// flush writes the frames waiting for the session as one event, waiting
// within the write wait.
func (st *stream) flush() error {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if err := st.settle(); err != nil {
		return err
	}
	_, err := st.sendBatch(nil)
	return err
}

// heartbeat writes the heartbeat comment unless an event went out since
// the last one (the stream is busy: it needs no keep-alive, and a client
// that left makes the next writes fail). It reports left when the client
// is known to have left.
func (st *stream) heartbeat() (left bool, err error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if err := st.settle(); err != nil {
		return false, err
	}
	if st.sent {
		st.sent = false
		return false, nil
	}
	if !st.out.alive() {
		return true, nil
	}
	if err := st.out.write(heartbeat); err != nil {
		return false, err
	}
	st.sess.Touch()
	return false, nil
}

// push is the pump's flush (the stream's pump.Task), only on a taken-over
// socket: it writes the frames waiting for the session without waiting
// for anything, and hands the stream back to its writer
// (core.Session.Signal) when the writer is at work, when the send buffer
// is full, and when the write failed.
func (st *stream) push() {
	if !st.wmu.TryLock() {
		st.sess.Signal()
		return
	}
	defer st.wmu.Unlock()
	if st.rest != nil || st.werr != nil {
		st.sess.Signal()
		return
	}
	full, err := st.sendBatch(&st.out.(*connSink).out)
	if err != nil {
		st.werr = err
	}
	if full || err != nil {
		st.sess.Signal()
	}
}

// settle finishes what the pump left: it sends the rest of an event, or
// returns the error of its failed write. Caller holds wmu.
func (st *stream) settle() error {
	if st.werr != nil {
		return st.werr
	}
	if st.rest == nil {
		return nil
	}
	err := st.out.write(st.rest)
	putBuffer(st.restBuf)
	st.rest, st.restBuf = nil, nil
	if err != nil {
		return err
	}
	st.sess.Touch()
	st.sess.Written()
	return nil
}

// sendBatch writes the frames waiting in the session as one event whose id
// is the seq of the last frame and whose data is their JSON list. With
// now nil it writes through the sink, waiting within the write wait; with
// now set it writes without waiting and keeps what the send buffer did not
// take in rest, reporting full. Caller holds wmu.
func (st *stream) sendBatch(now *connWriter) (full bool, err error) {
	bp := buffers.Get().(*[]byte)
	buf := append((*bp)[:0], make([]byte, prefixRoom)...)
	buf, n, last := st.sess.Next(buf, maxBatchFrames)
	if n == 0 {
		*bp = buf
		putBuffer(bp)
		return false, nil
	}
	buf = append(buf, "\n\n"...)
	*bp = buf
	var p [prefixRoom]byte
	pre := append(p[:0], "id: "...)
	pre = strconv.AppendUint(pre, last, 10)
	pre = append(pre, "\ndata: "...)
	start := prefixRoom - len(pre)
	copy(buf[start:], pre)
	if now == nil {
		err = st.out.write(buf[start:])
	} else if rest, werr := now.tryWrite(buf[start:]); werr != nil {
		err = werr
	} else if len(rest) > 0 {
		st.sent = true
		st.rest, st.restBuf = rest, bp
		return true, nil
	}
	putBuffer(bp)
	if err != nil {
		return false, err
	}
	st.sent = true
	st.sess.Touch()
	st.sess.Written()
	return false, nil
}

// putBuffer gives a batch buffer back to buffers, unless it grew too large
// to keep.
func putBuffer(bp *[]byte) {
	if cap(*bp) <= maxPooledBuffer {
		*bp = (*bp)[:0]
		buffers.Put(bp)
	}
}

// heartbeatSlots is how many moments of each heartbeat interval the
// streams' heartbeats are gathered on. Each stream keeps its own phase,
// rounded to one of these moments, so that the heartbeats of idle streams
// that fall close together wake the process together instead of one by
// one: each wake-up has a fixed cost (scheduler, timers, epoll, sysmon)
// that is then shared. The moments stay many (as for WebSocket, see
// websocket's heartbeatSlots): a delivery that arrives at a moment waits
// behind all of its heartbeats.
const heartbeatSlots = 256

// untilBeat is the time from now to a stream's next heartbeat: one
// HeartbeatInterval, rounded up to a multiple of HeartbeatInterval /
// heartbeatSlots on the clock.
func (h *Handler) untilBeat(now time.Time) time.Duration {
	slot := max(int64(h.cfg.HeartbeatInterval/heartbeatSlots), 1)
	at := now.UnixNano() + int64(h.cfg.HeartbeatInterval)
	if r := at % slot; r != 0 {
		at += slot - r
	}
	return time.Duration(at - now.UnixNano())
}

// ended handles the hub ending the session. On shutdown the client gets a
// jittered reconnection delay first, so that it comes back to another node
// or later, and not with everyone else.
func (h *Handler) ended(sess *core.Session, out sink) {
	d := sess.Reason()
	var err error
	if d == core.DisconnectShutdown {
		err = out.write(retryField(h.cfg.Retry + h.jitter()))
	}
	h.log.Debug().Str("conn_id", sess.ConnID()).Int("code", d.Code).Str("reason", d.Reason).
		AnErr("write_err", err).Msg("sse stream ended by the hub")
}

func (h *Handler) detach(sess *core.Session, why string, err error) {
	sess.Detach()
	h.log.Debug().Str("conn_id", sess.ConnID()).Err(err).Msg("sse " + why)
}
