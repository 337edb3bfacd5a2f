package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"
)

// handshakeTimeout bounds the opening of every transport.
const handshakeTimeout = 10 * time.Second

// wsWriteBuffers is shared by every socket: a subscriber only writes pongs
// (which do not use it) and its close, so an idle one holds no write buffer.
var wsWriteBuffers = &sync.Pool{}

// wsSub is a WebSocket subscriber: one reader goroutine that scans each
// text message for markers. gorilla's default ping handler answers the
// server's heartbeat pings from that reader.
type wsSub struct {
	c       *gws.Conn
	closing atomic.Bool
	done    chan struct{}
}

func dialWS(ctx context.Context, dl *dialer, base, connID string, rec *Receiver) (*wsSub, error) {
	d := gws.Dialer{
		NetDialContext:   dl.DialContext,
		HandshakeTimeout: handshakeTimeout,
		ReadBufferSize:   4096,
		WriteBufferSize:  256,
		WriteBufferPool:  wsWriteBuffers,
	}
	url := "ws" + strings.TrimPrefix(base, "http") + "/ws?conn_id=" + connID
	c, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("GET /ws: %s: %w", resp.Status, err)
		}
		return nil, fmt.Errorf("GET /ws: %w", classifyDialErr(err))
	}
	s := &wsSub{c: c, done: make(chan struct{})}
	go s.read(rec)
	return s, nil
}

func (s *wsSub) read(rec *Receiver) {
	defer close(s.done)
	buf := make([]byte, 0, 512)
	for {
		_, r, err := s.c.NextReader()
		if err == nil {
			buf, err = readInto(r, buf[:0])
		}
		if err != nil {
			if !s.closing.Load() {
				rec.c.streamEnded(fmt.Errorf("ws: %w", err))
			}
			return
		}
		if scanMarkers(buf, time.Now().UnixNano(), rec) > 0 {
			rec.Frame()
		}
	}
}

// Close implements Subscriber: it drops the socket without a close frame.
func (s *wsSub) Close() {
	s.closing.Store(true)
	_ = s.c.Close()
	<-s.done
}

// readInto appends everything r yields to buf.
func readInto(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
