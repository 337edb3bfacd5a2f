package longpoll

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
)

// handBack gives an answered poll's connection back to srv, the server
// that read the poll, through a listener of the handler's own that srv
// serves (started at the first hand-back): srv then reads the client's
// next request on it as on any kept-alive connection, with its middleware,
// timeouts and connection tracking. early is what was read from the
// connection past the poll's request. When srv is closing, the connection
// is closed.
func (h *Handler) handBack(srv *http.Server, conn net.Conn, early []byte) {
	if len(early) > 0 {
		if _, ok := conn.(*tls.Conn); ok {
			_ = conn.Close() // a wrapper would hide the TLS state from srv
			return
		}
		conn = &earlyConn{Conn: conn, early: early}
	}
	ln := h.backListener(srv, conn.LocalAddr())
	select {
	case ln.conns <- conn:
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
	ln := &backListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
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
	conns chan net.Conn
	once  sync.Once
	done  chan struct{} // closed by Close
}

func (l *backListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *backListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *backListener) Addr() net.Addr { return l.addr }
