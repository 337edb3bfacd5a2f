package longpoll

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// handBack gives an answered poll's connection back to srv, the server
// that read the poll, through a listener of the handler's own that srv
// serves (started at the first hand-back): srv then reads the client's
// next request on it as on any kept-alive connection, with its middleware,
// timeouts and connection tracking. early is what was read from the
// connection past the poll's request. The connection goes back without
// deadlines. When srv is closing, the connection is closed.
//
// It returns once srv took the connection in (it ran its ConnState hook
// with http.StateNew, and serves it): the poll, which Shutdown waits for,
// lasts until then, so that whoever closes srv after Shutdown returned
// (httptest.Server.Close waits for the connections its hook counted)
// never sees a connection arrive while it closes.
func (h *Handler) handBack(srv *http.Server, conn net.Conn, early []byte) {
	if err := conn.SetDeadline(time.Time{}); err != nil {
		_ = conn.Close()
		return
	}
	if len(early) > 0 {
		if _, ok := conn.(*tls.Conn); ok {
			_ = conn.Close() // a wrapper would hide the TLS state from srv
			return
		}
		conn = &earlyConn{Conn: conn, early: early}
	}
	ln := h.backListener(srv, conn.LocalAddr())
	taken := make(chan struct{})
	select {
	case ln.conns <- handed{conn, taken}:
		<-taken
	case <-ln.done:
		_ = conn.Close()
	}
}

// backListener returns the listener that hands connections back to srv,
// and starts serving it the first time.
func (h *Handler) backListener(srv *http.Server, addr net.Addr) *backListener {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ln := h.backs[srv]; ln != nil {
		return ln
	}
	if h.backs == nil {
		h.backs = map[*http.Server]*backListener{}
	}
	ln := &backListener{addr: addr, conns: make(chan handed), done: make(chan struct{})}
	h.backs[srv] = ln
	go func() {
		_ = srv.Serve(ln) // returns when srv shuts down (it closes ln)
		_ = ln.Close()
		h.mu.Lock()
		if h.backs[srv] == ln {
			delete(h.backs, srv)
		}
		h.mu.Unlock()
	}()
	return ln
}

// backListener is a net.Listener whose connections are those handed back.
type backListener struct {
	addr  net.Addr
	conns chan handed
	once  sync.Once
	done  chan struct{} // closed by Close

	// taken is the channel of the connection Accept returned last, closed
	// by the next Accept: http.Server.Serve calls Accept from one
	// goroutine, again only once it ran its ConnState hook for the last
	// connection and started serving it.
	taken chan struct{}
}

// handed is a connection handed back, and the channel Accept closes once
// the server took it in (see backListener.taken).
type handed struct {
	conn  net.Conn
	taken chan struct{}
}

func (l *backListener) Accept() (net.Conn, error) {
	if l.taken != nil {
		close(l.taken)
		l.taken = nil
	}
	select {
	case c := <-l.conns:
		l.taken = c.taken
		return c.conn, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *backListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *backListener) Addr() net.Addr { return l.addr }
