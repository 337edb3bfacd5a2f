package websocket

import (
	"context"
	"net"
	"net/http/httptest"
	"sync"

	gws "github.com/gorilla/websocket"
)

// pipeListener is an in-memory net.Listener: each DialContext hands the
// server one end of a net.Pipe. Nothing touches the network, and a write
// returns only once the peer has read it, so no socket buffer hides a
// reader that stopped.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// DialContext connects to the listener; network and address are ignored.
func (l *pipeListener) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// dialer is a WebSocket dialer whose connections go to l.
func (l *pipeListener) dialer() *gws.Dialer {
	return &gws.Dialer{NetDialContext: l.DialContext}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// onPipe serves the test server on l instead of a TCP port.
func onPipe(l *pipeListener) envOption {
	return func(s *httptest.Server) {
		_ = s.Listener.Close()
		s.Listener = l
	}
}
