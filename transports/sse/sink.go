package sse

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/channelstream-go/channelstream-go/transports/internal/writer"
)

// A sink is where a stream's bytes go: the client's socket after a hijack
// (connSink), or net/http's ResponseWriter (httpSink). Only the stream's
// writer goroutine uses it.
type sink interface {
	// Write writes b to the client within the write wait and flushes it.
	Write(b []byte) error
	// gone is closed when the client is known to have left (nil: never;
	// see alive).
	gone() <-chan struct{}
	// alive is a cheap check made at every heartbeat; false: the client
	// has left.
	alive() bool
	// close ends the response.
	close()
}

// streamHeaders sets the response headers of a stream.
func streamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
}

// connSink writes straight to a hijacked HTTP/1.x connection: the response
// is delimited by closing the connection. The stream then costs one
// goroutine with a small stack and no net/http buffers.
type connSink struct {
	conn net.Conn
	out  writer.Conn
	wait time.Duration
	head []byte // the response head, sent with the first write
}

// newConnSink builds the response head from hdr (which carries what
// middleware set, CORS headers for instance).
func newConnSink(conn net.Conn, hdr http.Header, wait time.Duration) *connSink {
	streamHeaders(hdr)
	hdr.Set("Connection", "close")
	hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	hdr.Del("Content-Length")
	hdr.Del("Transfer-Encoding")
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	_ = hdr.Write(&b) // a bytes.Buffer does not fail
	b.WriteString("\r\n")
	s := &connSink{conn: conn, wait: wait, head: b.Bytes()}
	s.out.Init(conn, wait)
	return s
}

func (s *connSink) Write(b []byte) error {
	if s.head != nil {
		// The first write: the head and the greeting in one go. The
		// deadline it leaves behind is harmless (see writer.Conn).
		if err := s.conn.SetWriteDeadline(time.Now().Add(s.wait)); err != nil {
			return err
		}
		bufs := net.Buffers{s.head, b}
		s.head = nil
		_, err := bufs.WriteTo(s.conn)
		return err
	}
	return s.out.Write(b)
}

func (s *connSink) gone() <-chan struct{} { return nil }
func (s *connSink) alive() bool           { return !peerClosed(s.conn) }
func (s *connSink) close()                { _ = s.conn.Close() }

// httpSink writes through net/http: for HTTP/2, and where the connection
// cannot or should not be hijacked.
type httpSink struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	done <-chan struct{}
	wait time.Duration
}

func newHTTPSink(w http.ResponseWriter, r *http.Request, wait time.Duration) *httpSink {
	rc := http.NewResponseController(w)
	// net/http reads on in the background to notice the client leaving; a
	// server-wide ReadTimeout would make that read fail and cancel the
	// request. Nothing is read from this client, so no read deadline.
	_ = rc.SetReadDeadline(time.Time{})
	streamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	return &httpSink{w: w, rc: rc, done: r.Context().Done(), wait: wait}
}

func (s *httpSink) Write(b []byte) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.wait)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil {
		return err
	}
	// Clear the deadline: one that passes while the stream is idle cannot
	// be extended on HTTP/2.
	_ = s.rc.SetWriteDeadline(time.Time{})
	return nil
}

func (s *httpSink) gone() <-chan struct{} { return s.done }
func (s *httpSink) alive() bool           { return true }

// close bounds what net/http writes after the handler returns (the end of
// the chunked body) so that it cannot hang on a client that stopped reading.
func (s *httpSink) close() { _ = s.rc.SetWriteDeadline(time.Now().Add(s.wait)) }
