package websocket

import (
	"errors"
	"io"
	"net"
	"time"

	gws "github.com/gorilla/websocket"
)

// Who closes a socket's network connection (socket.state).
const (
	connOpen      int32 = iota // the first of reader and writer to end closes it
	connLingering              // the reader lingers (see linger): it closes it
	connClosed                 // the writer closed it
)

// refusedFrame reports whether err, which ended the reader, is a client
// frame that gorilla's read side refused (oversized, malformed), which it
// answered with a close frame (1009, 1002), rather than the network
// failing, the client closing the TCP connection or a close frame from
// the client.
func refusedFrame(err error) bool {
	var ce *gws.CloseError
	var ne net.Error
	return !errors.As(err, &ce) && !errors.As(err, &ne) &&
		!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF)
}

// linger runs on the reader after gorilla's read side sent a close frame
// (see refusedFrame), which sealed the write path (sockConn.Write): it
// keeps the network connection open until the client closes it, or for
// closeGrace, and discards what the client sends meanwhile (the rest of
// the refused frame, the close frame's echo). Closed with bytes of the
// client unread, the connection would be reset at once, and the reset
// would destroy what the client had not read yet: the end of the batch
// in flight and the close frame after it. The writer leaves the
// connection to the reader while it lingers (closeConn); Shutdown giving
// up cuts it.
func (s *socket) linger() {
	if !s.state.CompareAndSwap(connOpen, connLingering) {
		return // the writer closed the connection already
	}
	s.closeSent.Store(true)
	if err := s.out.Conn.SetReadDeadline(time.Now().Add(closeGrace)); err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, s.out.Conn)
}

// closeConn closes the network connection as the writer ends, unless the
// reader lingers after a close frame (see linger): then the reader closes
// it, and the writer waits for the reader, or for Shutdown to give up.
func (s *socket) closeConn() {
	if s.state.CompareAndSwap(connOpen, connClosed) {
		_ = s.ws.Close()
		return
	}
	select {
	case <-s.readDone:
	case <-s.h.kill:
		_ = s.ws.Close()
	}
}
