package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
)

// wsSubscriber is a gorilla/websocket client of GET /ws. Its reader
// goroutine answers the server's pings (gorilla's default handler) and
// queues every text frame as a batch.
type wsSubscriber struct {
	base string // ws://host/ws?conn_id=<id>
	in   *inbox

	mu   sync.Mutex
	ws   *gws.Conn
	cut  *atomic.Bool  // set before we close ws ourselves: the reader stays quiet
	done chan struct{} // closed when the current reader returns
}

// wsDialer is the client every WebSocket subscriber dials with.
var wsDialer = &gws.Dialer{HandshakeTimeout: 10 * time.Second}

// openWS dials /ws for connID, failing the test on error; Close runs at
// cleanup.
func openWS(t testing.TB, baseURL, connID string) *wsSubscriber {
	t.Helper()
	s, err := dialWS(baseURL, connID)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// dialWS dials /ws for connID.
func dialWS(baseURL, connID string) (*wsSubscriber, error) {
	s := &wsSubscriber{
		base: "ws" + strings.TrimPrefix(baseURL, "http") + "/ws?conn_id=" + url.QueryEscape(connID),
		in:   newInbox(),
	}
	return s, s.attach(s.base)
}

// wsDialError is the error of a failed WebSocket dial to u: a 503 is a
// refusal with a reason (the node's backend is away), an *endedError as
// the other transports report theirs.
func wsDialError(u string, resp *http.Response, err error) error {
	if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return &endedError{Code: resp.StatusCode, Text: string(b)}
	}
	if resp != nil {
		return fmt.Errorf("dial %s: %w (HTTP %d)", u, err, resp.StatusCode)
	}
	return fmt.Errorf("dial %s: %w", u, err)
}

func (s *wsSubscriber) attach(u string) error {
	ws, resp, err := wsDialer.Dial(u, nil)
	if err != nil {
		return wsDialError(u, resp, err)
	}
	cut, done := new(atomic.Bool), make(chan struct{})
	s.mu.Lock()
	s.ws, s.cut, s.done = ws, cut, done
	s.mu.Unlock()
	go s.read(ws, cut, done)
	return nil
}

func (s *wsSubscriber) read(ws *gws.Conn, cut *atomic.Bool, done chan struct{}) {
	defer close(done)
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			if cut.Load() {
				return
			}
			var ce *gws.CloseError
			if errors.As(err, &ce) {
				s.in.finish(&endedError{Code: ce.Code, Text: ce.Text})
			} else {
				s.in.finish(&endedError{Err: err})
			}
			return
		}
		if typ != gws.TextMessage {
			s.in.finish(&endedError{Err: fmt.Errorf("unexpected message type %d: %q", typ, data)})
			return
		}
		frames, err := decodeBatch(data)
		if err != nil {
			s.in.finish(&endedError{Err: err})
			return
		}
		s.in.push(frames)
	}
}

func (s *wsSubscriber) Next(timeout time.Duration) ([]wireFrame, error) {
	return s.in.next(timeout)
}

func (s *wsSubscriber) LastSeq() uint64 { return s.in.cursor() }

// current returns the socket and its reader's state.
func (s *wsSubscriber) current() (*gws.Conn, *atomic.Bool, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ws, s.cut, s.done
}

// Drop closes the TCP connection under the socket, without a close frame,
// and waits for the reader to stop.
func (s *wsSubscriber) Drop() {
	ws, cut, done := s.current()
	if ws == nil {
		return
	}
	cut.Store(true)
	_ = ws.NetConn().Close()
	<-done
}

// ResumeCursor is the last resume cursor received ("" when none).
func (s *wsSubscriber) ResumeCursor() string { return s.in.resumeCursor() }

// Resume dials again with cursor= once the node gave one, else
// last_seq=LastSeq.
func (s *wsSubscriber) Resume() error {
	s.Drop() // in case the old socket still runs
	return s.attach(s.base + s.in.resumeQuery())
}

// Close sends a close frame (1000), waits briefly for the server's echo and
// closes the socket.
func (s *wsSubscriber) Close() {
	s.mu.Lock()
	ws, cut, done := s.ws, s.cut, s.done
	s.ws = nil
	s.mu.Unlock()
	if ws == nil {
		return
	}
	cut.Store(true)
	msg := gws.FormatCloseMessage(gws.CloseNormalClosure, "bye")
	if err := ws.WriteControl(gws.CloseMessage, msg, time.Now().Add(time.Second)); err == nil {
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
	}
	_ = ws.Close()
	<-done
}
