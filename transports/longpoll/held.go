package longpoll

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

const (
	// answerWait bounds the write of an answer on a taken-over connection.
	answerWait = 10 * time.Second
	// maxEarlyBytes bounds what a client may send while its poll waits (a
	// pipelined request); more ends the poll as if the client had left.
	maxEarlyBytes = 16 << 10
)

// held is a poll whose HTTP/1.x connection was taken over from net/http
// while it waits: net/http's goroutine, its buffers and its per-request
// state go away, and the poll holds only the connection, its session, a
// waiter and a watcher on the smallest stacks. Once answered, the
// connection goes back to the http.Server that served the request (see
// handBack), which reads the client's next request as on any kept-alive
// connection.
type held struct {
	h    *Handler
	sess *core.Session
	req  pollRequest
	conn net.Conn
	hdr  http.Header // what middleware set (CORS): it goes out too
	srv  *http.Server
	keep bool // the connection may serve another request (set once)

	// early holds the bytes read past the request: by net/http before
	// the take-over, then by the watcher. The watcher owns it until
	// watched is closed.
	early    []byte
	left     bool          // the client left or sent too much (the watcher's)
	gone     chan struct{} // closed by the watcher when the client left
	watched  chan struct{} // closed when the watcher returned
	stopping atomic.Bool   // the waiter stops the watcher (not the client)
}

// takeOver hijacks the poll's connection and hands the wait to a held
// poll. It reports false, with nothing done, when the connection cannot
// be taken over (HTTP/2, a ResponseWriter without Hijack).
func (h *Handler) takeOver(w http.ResponseWriter, r *http.Request, s *core.Session, req pollRequest) bool {
	hdr := w.Header().Clone()
	conn, brw, err := http.NewResponseController(w).Hijack()
	switch {
	case errors.Is(err, http.ErrNotSupported):
		return false
	case err != nil:
		h.pending.Add(-1)
		h.clientGone(s)
		return true
	}
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	p := &held{
		h: h, sess: s, req: req, conn: conn, hdr: hdr, srv: srv,
		keep:    srv != nil && !r.Close,
		gone:    make(chan struct{}),
		watched: make(chan struct{}),
	}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		p.early = bytes.Clone(b)
	}
	h.polls.Add() // before the request's own count drops
	go p.watch()
	go p.run()
	return true
}

// watch reads the connection while the poll waits, so that a client that
// leaves is noticed at once: it closes gone when reading ends, unless the
// waiter stopped it. Bytes the client sends meanwhile (a pipelined request)
// are kept for the server. On a socket it waits in the poller's read
// (syscall.RawConn, see readSome), which keeps its parked stack the
// smallest.
func (p *held) watch() {
	defer close(p.watched)
	if sc, ok := p.conn.(syscall.Conn); ok && rawWatch {
		if raw, err := sc.SyscallConn(); err == nil {
			_ = raw.Read(p.readSome) // ends when readSome does, or at the waiter's deadline
			p.ended()
			return
		}
	}
	var b [64]byte
	for {
		n, err := p.conn.Read(b[:])
		p.early = append(p.early, b[:n]...)
		if err != nil || len(p.early) > maxEarlyBytes {
			break
		}
	}
	p.ended()
}

// ended notes that reading ended and, unless the waiter stopped the
// watcher, closes gone.
func (p *held) ended() {
	p.left = !p.stopping.Load()
	if p.left {
		close(p.gone)
	}
}

// run waits as a poll does, answers on the connection and hands it back
// (or closes it).
func (p *held) run() {
	h := p.h
	defer h.polls.Done()
	end := h.wait(p.gone, p.sess)
	h.pending.Add(-1)
	if end == endClientGone {
		h.clientGone(p.sess)
		_ = p.conn.Close()
		return
	}
	a := h.take(p.sess, p.req)
	err := p.write(a.body)
	h.finish(p.sess, p.req, end, a, err)
	// The watcher reads on while the answer goes out; stop it before the
	// connection is the server's again.
	p.stopping.Store(true)
	_ = p.conn.SetReadDeadline(time.Unix(1, 0))
	<-p.watched
	if err != nil || !p.keep || p.left {
		_ = p.conn.Close()
		return
	}
	if err := p.conn.SetDeadline(time.Time{}); err != nil {
		_ = p.conn.Close()
		return
	}
	h.handBack(p.srv, p.conn, p.early)
}

// write writes the answer: the response head (with the middleware's
// headers) and body, in one write.
func (p *held) write(body []byte) error {
	hdr := p.hdr
	setAnswerHeaders(hdr, p.req, len(body))
	hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	hdr.Del("Transfer-Encoding")
	if !p.keep {
		hdr.Set("Connection", "close")
	}
	var b bytes.Buffer
	b.Grow(256 + len(body))
	b.WriteString("HTTP/1.1 200 OK\r\n")
	_ = hdr.Write(&b) // a bytes.Buffer does not fail
	b.WriteString("\r\n")
	b.Write(body)
	if err := p.conn.SetWriteDeadline(time.Now().Add(answerWait)); err != nil {
		return err
	}
	_, err := p.conn.Write(b.Bytes())
	return err
}

// earlyConn is a connection handed back with bytes already read from it:
// they are read first.
type earlyConn struct {
	net.Conn
	early []byte
}

func (c *earlyConn) Read(b []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(b, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
