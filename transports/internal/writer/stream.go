package writer

import (
	"errors"
	"sync"

	"github.com/channelstream-go/channelstream-go/core"
)

// Framer frames a transport's batches: Frame appends to buf the frames
// waiting for the session (with core.Session.Next) in the transport's
// framing, and returns the grown buffer, where in it the bytes to write
// start, and how many frames it took (0: nothing waits, nothing to write).
// Frame runs under the stream's write lock.
type Framer interface {
	Frame(buf []byte) (b []byte, start, n int)
}

// Out is where a stream's bytes go when a write may wait: the whole of b
// is written within the transport's write wait, or an error returned.
type Out interface {
	Write(b []byte) error
}

// Stream is the write side of one attached connection, shared by its
// writer goroutine and, on a socket that takes non-blocking writes, the
// transport's pump (see transports/pump). The pump writes published
// batches without ever waiting (Push); whatever may wait, the rest of a
// batch the send buffer refused, heartbeats, close frames, is the
// writer's, under the same write lock (Lock, Flush).
//
// A Stream is usually a field of the transport's connection; Init sets it
// up. Its zero value is not usable.
type Stream struct {
	sess  *core.Session
	frame Framer
	out   Out
	now   *Conn // nil: no pump, every write goes through out

	// mu is held by whoever writes to the client: the writer, or the pump
	// (which only tries it). It guards the fields below, out's writes, and
	// the session's Next and Written.
	mu sync.Mutex
	// sent: a batch went out (at least in part) since TakeSent.
	sent bool
	// rest is the tail of a batch the pump could not send (the send
	// buffer was full), in the pooled buffer restBuf: the writer sends it,
	// within the write wait, before anything else. werr is the pump's
	// failed write: the writer ends the connection with it.
	rest    []byte
	restBuf *[]byte
	werr    error
}

// Init sets s up for sess: batches are framed by f and written through
// out; now, when not nil, is the socket Push writes to without waiting
// (it must NeverWait; Push is then the stream's pump task, given to
// core.Session.Notify by the transport).
func (s *Stream) Init(sess *core.Session, f Framer, out Out, now *Conn) {
	*s = Stream{sess: sess, frame: f, out: out, now: now}
}

// Pumped reports whether the stream has a socket the pump may write to.
func (s *Stream) Pumped() bool { return s.now != nil }

// Push is the pump's flush: it writes the frames waiting for the session
// without waiting for anything, and hands the stream back to its writer
// (core.Session.Signal) when the writer is at work, when the send buffer
// is full, and when the write failed. Only when Pumped.
func (s *Stream) Push() {
	if !s.mu.TryLock() {
		s.sess.Signal()
		return
	}
	defer s.mu.Unlock()
	if s.rest != nil || s.werr != nil {
		s.sess.Signal()
		return
	}
	full, err := s.batch(false)
	if err != nil {
		s.werr = err
	}
	if full || err != nil {
		s.sess.Signal()
	}
}

// Flush is the writer's: it finishes what the pump left, then writes the
// frames waiting for the session as one batch, waiting within the write
// wait.
func (s *Stream) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.settle(); err != nil {
		return err
	}
	_, err := s.batch(true)
	return err
}

// Lock takes the write lock for a write of the writer's own (a heartbeat,
// a close frame) and finishes what the pump left first, so that nothing is
// ever written inside a batch. It returns the error of that write, or of
// the pump's failed one; the lock is held either way: call Unlock.
func (s *Stream) Lock() error {
	s.mu.Lock()
	return s.settle()
}

// Unlock releases the write lock.
func (s *Stream) Unlock() { s.mu.Unlock() }

// Write writes b through out, waiting within the write wait. Caller holds
// the lock (Lock).
func (s *Stream) Write(b []byte) error { return s.out.Write(b) }

// ErrSealed is what the writes of a sealed stream return (see Seal).
var ErrSealed = errors.New("writer: stream sealed: nothing is written after the close")

// Seal ends the stream's writes at once, for a protocol in which nothing
// may follow a frame just written (a WebSocket close frame): from now on
// Push writes nothing and Flush and Lock return ErrSealed, without taking
// any frame from the session. Caller holds the lock.
func (s *Stream) Seal() {
	if s.werr == nil {
		s.werr = ErrSealed
	}
	if s.restBuf != nil {
		putBuf(s.restBuf)
	}
	s.rest, s.restBuf = nil, nil
}

// TakeSent reports whether a batch went out since the last call. Caller
// holds the lock.
func (s *Stream) TakeSent() bool {
	sent := s.sent
	s.sent = false
	return sent
}

// settle sends the rest of a batch the pump left, or returns the error of
// its failed write. Caller holds mu.
func (s *Stream) settle() error {
	if s.werr != nil {
		return s.werr
	}
	if s.rest == nil {
		return nil
	}
	err := s.out.Write(s.rest)
	putBuf(s.restBuf)
	s.rest, s.restBuf = nil, nil
	if err != nil {
		return err
	}
	s.sess.Touch()
	s.sess.Written()
	return nil
}

// batch writes the frames waiting for the session as one batch. With wait
// it writes through out, waiting within the write wait; without, it
// writes to now without waiting and keeps what the send buffer did not
// take in rest, reporting full. Caller holds mu.
func (s *Stream) batch(wait bool) (full bool, err error) {
	bp := getBuf()
	buf, start, n := s.frame.Frame((*bp)[:0])
	*bp = buf
	if n == 0 {
		putBuf(bp)
		return false, nil
	}
	if wait {
		err = s.out.Write(buf[start:])
	} else if rest, werr := s.now.TryWrite(buf[start:]); werr != nil {
		err = werr
	} else if len(rest) > 0 {
		s.sent = true // the client may have had bytes of it
		s.rest, s.restBuf = rest, bp
		return true, nil
	}
	putBuf(bp)
	if err != nil {
		return false, err
	}
	s.sent = true
	s.sess.Touch()
	s.sess.Written()
	return false, nil
}

// maxPooledBuf is the largest batch buffer kept for reuse: a burst (a big
// catch-up) must not pin its memory.
const maxPooledBuf = 64 << 10

// bufs holds batch buffers between batches, so that an idle stream holds
// none.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

// putBuf gives a batch buffer back to bufs, unless it grew too large to
// keep.
func putBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBuf {
		*bp = (*bp)[:0]
		bufs.Put(bp)
	}
}
