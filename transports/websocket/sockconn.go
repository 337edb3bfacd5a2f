package websocket

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/transports/internal/writer"
)

// sockConn is a socket's hijacked network connection, through which both
// gorilla and the writer go.
//
// gorilla reads from it (and writes its control frames to it): on a
// socket, Read calls read(2) through the connection's syscall.RawConn
// instead of net.Conn.Read. The reader goroutine spends an idle socket's
// life parked at the bottom of that call, under gorilla's frame parser;
// through net.Conn.Read (five more frames on the way to the system call)
// it needs a 4 KiB stack, this way it fits in the smallest one (2 KiB).
//
// The writer and the pump write whole frames through w (see
// transports/internal/writer.Conn).
type sockConn struct {
	net.Conn
	raw syscall.RawConn // nil: not a socket (TLS, pipe): go through Conn

	// The read in progress, for readSome (a method value made once, so
	// that a read allocates nothing). Only the reader goroutine reads.
	p     []byte
	n     int
	errn  error
	readF func(fd uintptr) bool

	// heard, when set (by newSocket, before the first frame is read), is
	// the socket's socket.heard: readSome takes the client's whole pongs
	// out of what it reads (see pongScan) and notes them there, at the
	// time of the last ping (pinged, clock nanoseconds, stored by the
	// writer before it writes a ping).
	heard  *atomic.Int64
	pinged atomic.Int64
	scan   pongScan

	// w writes the frames (set up by newSocket, under the socket's write
	// lock).
	w writer.Conn
	// stream, set by newSocket before the socket's goroutines start, is
	// the socket's write path, whose lock Write takes (nil: a refused
	// socket, which has no other writer).
	stream *writer.Stream
}

// Write is how gorilla writes: the control frames it sends for us (pongs,
// close echoes, close frames) and those of its read side (the close frame
// of a protocol error or an oversized frame). On an attached socket it
// takes the socket's write lock, so that such a frame is never written
// inside a batch the pump sent in part (the rest goes first), and never
// while the pump writes: a frame written outside the lock could hold the
// connection's own write lock for as long as its deadline on a client
// that stopped reading, and the pump, which takes that lock for every
// send, would wait on it and hold up every other socket. A close frame
// (gorilla writes each control frame whole, in one Write) seals the
// stream under the same lock: nothing is written after it (RFC 6455
// 5.5.1), neither by the pump nor by the writer.
func (s *sockConn) Write(p []byte) (int, error) {
	if s.stream == nil {
		return s.Conn.Write(p)
	}
	err := s.stream.Lock()
	defer s.stream.Unlock()
	if err != nil {
		return 0, err
	}
	if len(p) > 0 && p[0] == closeFrameByte {
		defer s.stream.Seal()
	}
	return s.Conn.Write(p)
}

// closeFrameByte is the first byte of a close frame: FIN and opcode 8.
const closeFrameByte = 0x80 | gws.CloseMessage

func newSockConn(c net.Conn) *sockConn {
	s := &sockConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok && writer.RawSyscalls {
		if raw, err := sc.SyscallConn(); err == nil {
			s.raw = raw
			s.readF = s.readSome
		}
	}
	return s
}

// Read reads like net.Conn.Read: it waits (within the read deadline) until
// the socket has bytes, and returns io.EOF once the client closed it.
func (s *sockConn) Read(p []byte) (int, error) {
	if s.raw == nil || len(p) == 0 {
		return s.Conn.Read(p)
	}
	s.p = p
	err := s.raw.Read(s.readF)
	n, errn := s.n, s.errn
	s.p, s.n, s.errn = nil, 0, nil
	switch {
	case err != nil:
		return 0, err
	case errn != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errn)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readSome is one read(2) into s.p; it returns false to wait until the
// socket is readable.
//
// When the bytes read were only pongs (an idle socket's traffic), it notes
// them and, when the read did not fill s.p (the socket is empty now), waits
// again at once: it is already inside the poller's read (RawRead), whose
// readiness was reset before the first read, so bytes that arrive from now
// on wake it. Going back up to gorilla instead would cost its frame parser
// and one more read(2), which finds the socket empty, before parking.
func (s *sockConn) readSome(fd uintptr) bool {
	for {
		n, err := readRaw(int(fd), s.p)
		switch err {
		case nil:
			if n > 0 && s.heard != nil {
				m := s.pongs(n)
				if m == 0 && n < len(s.p) {
					return false // only pongs, and the socket is empty
				}
				if m == 0 {
					continue
				}
				n = m
			}
			s.n = n
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.errn = err
			return true
		}
	}
}

// pongs takes the pongs out of the n bytes just read into s.p and notes
// them, and returns how many bytes remain for gorilla. A function of its
// own, which reads no clock (time.Now needs more stack), so that the
// reader, parked below readSome, still fits in the smallest stack. A pong
// counts as heard at the last ping's time (sockConn.pinged) when that is
// later than what was heard before: it arrived after that ping was sent,
// so this is never later than when it was heard, and dead-peer detection
// is never slower.
//
//go:noinline
func (s *sockConn) pongs(n int) int {
	m, pong := s.scan.strip(s.p[:n])
	// Never backwards: a pong may come unsolicited (RFC 6455 allows it as
	// a one-way heartbeat) before any ping, or after a data frame was
	// heard later than the last ping. Only the reader stores heard.
	if p := s.pinged.Load(); pong && p > s.heard.Load() {
		s.heard.Store(p)
	}
	return m
}

// hijacker hands gorilla's Upgrade the hijacked connection wrapped in a
// sockConn.
type hijacker struct{ http.ResponseWriter }

// Hijack takes the connection over from net/http, as http.Hijacker.
func (w hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return newSockConn(c), brw, nil
}

// Unwrap gives http.ResponseController the ResponseWriter underneath.
func (w hijacker) Unwrap() http.ResponseWriter { return w.ResponseWriter }
