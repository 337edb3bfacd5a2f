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

// run is a stream's writer loop, its only writer: the greeting, then batches
// when the session is ready and, at each heartbeat (see untilBeat) after
// which no event went out, a check that the client is still there and the
// heartbeat comment, until the client leaves, a write fails or the hub
// ends the session.
func (h *Handler) run(sess *core.Session, out sink) {
	defer h.streamEnded()
	defer out.close()
	if err := out.write(h.hello); err != nil {
		h.detach(sess, "greeting failed", err)
		return
	}
	sess.Touch()

	beat := time.NewTimer(h.untilBeat(time.Now()))
	defer beat.Stop()
	sent := false // an event went out since the last heartbeat
	for {
		var err error
		select {
		case <-out.gone():
			h.detach(sess, "client left", nil)
			return
		case <-sess.Done():
			h.ended(sess, out)
			return
		case <-sess.Ready():
			var n int
			if n, err = sendBatch(sess, out); n > 0 {
				sent = true
			}
		case now := <-beat.C:
			beat.Reset(h.untilBeat(now))
			if sent {
				// The stream is busy: it needs no keep-alive, and a
				// client that left makes the next writes fail.
				sent = false
				continue
			}
			if !out.alive() {
				h.detach(sess, "client left", nil)
				return
			}
			if err = out.write(heartbeat); err == nil {
				sess.Touch()
			}
		}
		if err != nil {
			h.detach(sess, "write failed", err)
			return
		}
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

// sendBatch writes the frames waiting in the session as one event whose id
// is the seq of the last frame and whose data is their JSON list.
func sendBatch(sess *core.Session, out sink) (n int, err error) {
	bp := buffers.Get().(*[]byte)
	buf := append((*bp)[:0], make([]byte, prefixRoom)...)
	buf, n, last := sess.Next(buf, maxBatchFrames)
	if n > 0 {
		buf = append(buf, "\n\n"...)
		var p [prefixRoom]byte
		pre := append(p[:0], "id: "...)
		pre = strconv.AppendUint(pre, last, 10)
		pre = append(pre, "\ndata: "...)
		start := prefixRoom - len(pre)
		copy(buf[start:], pre)
		if err = out.write(buf[start:]); err == nil {
			sess.Touch()
			sess.Written()
		}
	}
	if cap(buf) <= maxPooledBuffer {
		*bp = buf[:0]
		buffers.Put(bp)
	}
	return n, err
}
