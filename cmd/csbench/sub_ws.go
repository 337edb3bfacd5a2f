package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"
)

const (
	// handshakeTimeout bounds the opening of every transport.
	handshakeTimeout = 10 * time.Second
	// pongWriteWait bounds the write of a Centrifugo pong.
	pongWriteWait = 5 * time.Second
)

// wsWriteBuffers is shared by every socket: a subscriber only writes pongs
// and its handshake, so an idle one holds no write buffer.
var wsWriteBuffers = &sync.Pool{}

// wsSub is a WebSocket subscriber: one reader goroutine that scans each
// text message for markers. gorilla's default ping handler answers the
// server's WebSocket pings from that reader; with appPong it also answers
// Centrifugo's application-level ping (the JSON reply {}) with {}.
type wsSub struct {
	c       *gws.Conn
	appPong bool
	closing atomic.Bool
	gate    stallGate
	done    chan struct{}
}

// dialWS opens url, runs setup (the protocol's handshake, may be nil) on
// the new socket, then starts the reader.
func dialWS(ctx context.Context, dl *dialer, url string, setup func(*gws.Conn) error, rec *Receiver) (*wsSub, error) {
	d := gws.Dialer{
		NetDialContext:   dl.DialContext,
		HandshakeTimeout: handshakeTimeout,
		ReadBufferSize:   4096,
		WriteBufferSize:  256,
		WriteBufferPool:  wsWriteBuffers,
	}
	c, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket %s: %s: %w", url, resp.Status, err)
		}
		return nil, fmt.Errorf("websocket %s: %w", url, classifyDialErr(err))
	}
	s := &wsSub{c: c, appPong: setup != nil, done: make(chan struct{})}
	if setup != nil {
		if err := setup(c); err != nil {
			c.Close()
			return nil, err
		}
	}
	go s.read(rec)
	return s, nil
}

func (s *wsSub) read(rec *Receiver) {
	defer close(s.done)
	buf := make([]byte, 0, 512)
	for {
		s.gate.wait()
		_, r, err := s.c.NextReader()
		if err == nil {
			buf, err = readInto(r, buf[:0])
		}
		if err != nil {
			if !s.closing.Load() {
				rec.Ended(fmt.Errorf("ws: %w", err))
			}
			return
		}
		if scanMarkers(buf, time.Now().UnixNano(), rec) > 0 {
			rec.Frame()
		}
		if s.appPong && hasPing(buf) {
			_ = s.c.SetWriteDeadline(time.Now().Add(pongWriteWait))
			if err := s.c.WriteMessage(gws.TextMessage, []byte("{}")); err != nil && !s.closing.Load() {
				rec.Ended(fmt.Errorf("ws: pong: %w", err))
				return
			}
		}
	}
}

// hasPing reports whether one of the newline-separated Centrifugo replies
// of frame is the empty reply {}, the server's ping.
func hasPing(frame []byte) bool {
	for line := range bytes.SplitSeq(frame, []byte("\n")) {
		if string(bytes.TrimSpace(line)) == "{}" {
			return true
		}
	}
	return false
}

// Close implements Subscriber: it drops the socket without a close frame.
func (s *wsSub) Close() {
	s.closing.Store(true)
	s.gate.unstall()
	_ = s.c.Close()
	<-s.done
}

// Stall implements Subscriber.
func (s *wsSub) Stall() { s.gate.stall() }

// Unstall implements Subscriber.
func (s *wsSub) Unstall() { s.gate.unstall() }

// stallGate lets a reader pause between reads. The zero value is open.
type stallGate struct {
	closed  atomic.Bool // mirrors stalled for a lock-free wait
	mu      sync.Mutex
	stalled bool
	wake    chan struct{}
}

// stall closes the gate: the next wait blocks.
func (g *stallGate) stall() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.stalled {
		g.stalled, g.wake = true, make(chan struct{})
		g.closed.Store(true)
	}
}

// unstall opens the gate and wakes a blocked wait.
func (g *stallGate) unstall() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stalled {
		g.stalled = false
		g.closed.Store(false)
		close(g.wake)
	}
}

// wait blocks while the gate is closed.
func (g *stallGate) wait() {
	if !g.closed.Load() {
		return
	}
	g.mu.Lock()
	w := g.wake
	stalled := g.stalled
	g.mu.Unlock()
	if stalled {
		<-w
	}
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
