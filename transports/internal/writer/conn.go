package writer

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// Conn writes whole buffers to a connection taken over from net/http. One
// goroutine at a time uses it (the owner's write lock, see Stream).
//
// On a TCP (or Unix) socket it first writes without waiting: nearly every
// write fits in the kernel's send buffer, and such a write needs no
// deadline (setting one moves a runtime timer, on every write). Only a
// write that would block gets one (the write wait) and waits; that
// deadline stays behind and, once passed, makes the next attempt fail
// before writing anything, which is taken as the cue to set a fresh one.
// Other connections (TLS, in-memory pipes) get a deadline on every write.
type Conn struct {
	conn net.Conn
	raw  syscall.RawConn // nil: write through conn
	wait time.Duration

	// State of the write in progress, for send (a method value made once,
	// so that a write allocates nothing).
	pending []byte
	mayWait bool
	blocked bool
	errno   error
	send    func(fd uintptr) bool
}

// Init sets w up to write to conn, each write bounded by wait (w is
// usually a field of its owner, so that it costs no allocation of its
// own).
func (w *Conn) Init(conn net.Conn, wait time.Duration) {
	*w = Conn{conn: conn, wait: wait}
	if sc, ok := conn.(syscall.Conn); ok && RawSyscalls {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
			w.send = w.sendSome
		}
	}
}

// NeverWaits reports whether TryWrite may be used: conn is a socket that
// takes non-blocking writes.
func (w *Conn) NeverWaits() bool { return w.raw != nil }

// Write writes b whole, within the write wait.
func (w *Conn) Write(b []byte) error {
	if w.raw == nil {
		if err := w.conn.SetWriteDeadline(time.Now().Add(w.wait)); err != nil {
			return err
		}
		_, err := w.conn.Write(b)
		return err
	}
	w.pending, w.mayWait, w.blocked, w.errno = b, false, false, nil
	err := w.raw.Write(w.send)
	if err == nil && !w.blocked {
		return w.done()
	}
	// Stale deadline (nothing written) or a full send buffer: wait for
	// the rest, bounded by a fresh deadline.
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return w.fail(err)
	}
	if err := w.conn.SetWriteDeadline(time.Now().Add(w.wait)); err != nil {
		return w.fail(err)
	}
	w.mayWait = true
	if err := w.raw.Write(w.send); err != nil {
		return w.fail(err)
	}
	return w.done()
}

// TryWrite writes as much of b as the socket's send buffer takes at once,
// without waiting, and returns what it did not take. Only when NeverWaits.
func (w *Conn) TryWrite(b []byte) (rest []byte, err error) {
	w.pending, w.mayWait, w.blocked, w.errno = b, false, false, nil
	err = w.raw.Write(w.send)
	rest = w.pending
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		// A stale deadline: nothing was written; Write sets a fresh one.
		w.pending, w.errno = nil, nil
		return b, nil
	case err != nil:
		return nil, w.fail(err)
	case w.blocked:
		w.pending = nil
		return rest, nil
	}
	return nil, w.done()
}

func (w *Conn) done() error {
	err := w.errno
	w.pending, w.errno = nil, nil
	if err != nil {
		return &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", err)}
	}
	return nil
}

func (w *Conn) fail(err error) error {
	w.pending, w.errno = nil, nil
	return err
}

// sendSome writes as much of w.pending as the socket takes. It returns
// false to have the poller wait until the socket is writable again (only
// when waiting is allowed), true when the write is over: all written, an
// error, or blocked.
func (w *Conn) sendSome(fd uintptr) bool {
	for len(w.pending) > 0 {
		n, err := sendNoSignal(int(fd), w.pending)
		if n > 0 {
			w.pending = w.pending[n:]
		}
		switch err {
		case nil:
		case syscall.EINTR:
		case syscall.EAGAIN:
			if w.mayWait {
				return false
			}
			w.blocked = true
			return true
		default:
			w.errno = err
			return true
		}
	}
	return true
}
