package sse

import (
	"slices"
	"strconv"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/internal/writer"
)

const (
	// prefixRoom is the room kept in front of every batch for the longest
	// "id: <seq>\ndata: " so that a whole event goes out in one write (a
	// stream whose ids are cursors keeps more: stream.idRoom).
	prefixRoom = len("id: ") + len("18446744073709551615") + len("\ndata: ")
	// maxBatchFrames caps the frames of one event; the rest follow at once
	// in the next one.
	maxBatchFrames = 256
)

// heartbeat is the comment written every HeartbeatInterval. EventSource
// ignores it; proxies and the collector see a live stream.
var heartbeat = []byte(": hb\n\n")

// stream is one attached stream: its writer goroutine (run) and, on a
// taken-over socket, the handler's pump, which writes published batches
// without waking the writer; both write through w.
type stream struct {
	h    *Handler
	sess *core.Session
	out  sink
	w    writer.Stream
	// idRoom is the room kept in front of a batch beyond prefixRoom, for
	// an id that is a cursor (core.Session.Cursor): the length of the
	// last one with a little slack. pre is the event's prefix, reused.
	// Both are the writer's (Frame runs under the write lock).
	idRoom int
	pre    []byte
}

// run is a stream's writer loop: the greeting, then batches when the
// session is ready (batches published while the stream is idle are
// written by the pump on a taken-over socket) and, at each heartbeat (see
// writer.UntilBeat) after which no event went out, a check that the client is
// still there and the heartbeat comment, until the client leaves, a write
// fails or the hub ends the session.
func (h *Handler) run(sess *core.Session, out sink) {
	defer h.streamEnded()
	defer out.close()
	if err := out.Write(h.hello); err != nil {
		h.detach(sess, "greeting failed", err)
		return
	}
	sess.Touch()
	st := &stream{h: h, sess: sess, out: out}
	var now *writer.Conn
	if cs, ok := out.(*connSink); ok && cs.out.NeverWaits() {
		now = &cs.out
	}
	st.w.Init(sess, st, out, now)
	if st.w.Pumped() {
		sess.Notify(h.pump.Task(st.w.Push).Ready)
	}

	beat := time.NewTimer(writer.UntilBeat(h.cfg.HeartbeatInterval, time.Now()))
	defer beat.Stop()
	for {
		var err error
		select {
		case <-out.gone():
			h.detach(sess, "client left", nil)
			return
		case <-sess.Done():
			if err := st.w.Lock(); err != nil { // never a field inside an event
				st.w.Unlock()
				h.detach(sess, "write failed", err)
				return
			}
			h.ended(sess, out)
			st.w.Unlock()
			return
		case <-sess.Ready():
			err = st.w.Flush()
		case now := <-beat.C:
			beat.Reset(writer.UntilBeat(h.cfg.HeartbeatInterval, now))
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

// heartbeat writes the heartbeat comment unless an event went out since
// the last one (the stream is busy: it needs no keep-alive, and a client
// that left makes the next writes fail). It reports left when the client
// is known to have left.
func (st *stream) heartbeat() (left bool, err error) {
	err = st.w.Lock()
	defer st.w.Unlock()
	if err != nil {
		return false, err
	}
	if st.w.TakeSent() {
		return false, nil
	}
	if !st.out.alive() {
		return true, nil
	}
	if err := st.w.Write(heartbeat); err != nil {
		return false, err
	}
	st.sess.Touch()
	return false, nil
}

// Frame is the stream's writer.Framer: the frames waiting for the session
// as one event whose id is the session's cursor after them, or without one
// (a hub without a data plane) the seq of the last frame, and whose data is
// their JSON list, its "id:" and "data:" fields written into the room kept
// in front.
func (st *stream) Frame(buf []byte) (b []byte, start, n int) {
	base := len(buf)
	room := prefixRoom + st.idRoom
	buf = append(buf, make([]byte, room)...)
	buf, n, last := st.sess.Next(buf, maxBatchFrames)
	if n == 0 {
		return buf, 0, 0
	}
	buf = append(buf, "\n\n"...)
	pre := append(st.pre[:0], "id: "...)
	if c := st.sess.Cursor(); c != "" {
		pre = append(pre, c...)
		st.idRoom = len(c) + 8 // a position may gain a digit or two
	} else {
		pre = strconv.AppendUint(pre, last, 10)
	}
	pre = append(pre, "\ndata: "...)
	st.pre = pre
	if more := len(pre) - room; more > 0 { // the cursor outgrew the room
		buf = slices.Insert(buf, base, make([]byte, more)...)
		room += more
	}
	start = base + room - len(pre)
	copy(buf[start:], pre)
	return buf, start, n
}

// ended handles the hub ending the session. On shutdown the client gets a
// jittered reconnection delay first, so that it comes back to another node
// or later, and not with everyone else.
func (h *Handler) ended(sess *core.Session, out sink) {
	d := sess.Reason()
	var err error
	if d == core.DisconnectShutdown {
		err = out.Write(retryField(h.cfg.Retry + h.jitter()))
	}
	h.log.Debug().Str("conn_id", sess.ConnID()).Int("code", d.Code).Str("reason", d.Reason).
		AnErr("write_err", err).Msg("sse stream ended by the hub")
}

func (h *Handler) detach(sess *core.Session, why string, err error) {
	sess.Detach()
	h.log.Debug().Str("conn_id", sess.ConnID()).Err(err).Msg("sse " + why)
}
