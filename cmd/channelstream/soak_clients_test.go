package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	r3sse "github.com/r3labs/sse/v2"
)

// The fault soak's clients. Normal clients are the package's real clients
// (wsSubscriber, pollSubscriber) plus r3Stream, an r3labs/sse/v2 client that
// can subscribe again after the server ended its stream (sseSubscriber's
// subscription ends for good on a clean EOF). Stallers (stallWS and a
// gated sseReader, soak_stall_test.go) stop reading on command while the
// server keeps sending, with a small socket receive buffer, so that the
// server's queue for them overflows and it cuts them as slow consumers.

// soakPos is where a client resumes: the last seq it received and the
// node's resume cursor of that point ("" until a node gave one), which
// lets another node of a cluster resume it (cursor= on /ws and /listen,
// Last-Event-ID on /sse).
type soakPos struct {
	seq    uint64
	cursor string
}

// posOf is where sub stands.
func posOf(sub subscriber) soakPos {
	p := soakPos{seq: sub.LastSeq()}
	if k, ok := sub.(interface{ ResumeCursor() string }); ok {
		p.cursor = k.ResumeCursor()
	}
	return p
}

// soakDial attaches a new client of transport to connID. With resume it
// asks for every frame after pos (last_seq and cursor, Last-Event-ID); the
// client's position starts at pos either way, so that a later Resume does
// not ask for what it already has. With a gate the client is a staller
// that reads only while the gate is open.
func soakDial(transport string, gate *stallGate, base, connID string, pos soakPos, resume bool, polls *http.Client) (subscriber, error) {
	in := newInbox()
	in.lastSeq, in.resume = pos.seq, pos.cursor
	stall := gate != nil
	switch {
	case transport == "websocket" && stall:
		return dialStallWS(base, connID, in, resume, gate)
	case transport == "websocket":
		s := &wsSubscriber{base: "ws" + strings.TrimPrefix(base, "http") + "/ws?conn_id=" + url.QueryEscape(connID), in: in}
		u := s.base
		if resume {
			u += in.resumeQuery()
		}
		return s, s.attach(u)
	case transport == "sse" && stall:
		return dialStallSSE(base, connID, in, resume, gate)
	case transport == "sse":
		s := &r3Stream{url: base + "/sse?conn_id=" + url.QueryEscape(connID), in: in}
		return s, s.subscribe(resume)
	default:
		// Every poll carries last_seq, from the first one on (resumed):
		// without it a written answer counts as delivered (upstream's
		// at-most-once semantics) and an answer lost to a cut network
		// path is a gap, which the exactly-once accounting cannot allow.
		s := &pollSubscriber{base: base + "/listen?conn_id=" + url.QueryEscape(connID), client: polls, in: in, resumed: true}
		s.start()
		return s, nil
	}
}

// r3Stream is an r3labs/sse/v2 client of GET /sse that does not retry by
// itself (Drop, Resume and the soak's client decide), and that can
// subscribe again, with Last-Event-ID = its cursor, after the server ended
// the stream.
type r3Stream struct {
	url string
	in  *inbox

	mu     sync.Mutex
	conn   net.Conn // the current stream's TCP connection
	tr     *http.Transport
	cut    *atomic.Bool
	cancel context.CancelFunc
	done   chan struct{} // closed when the current subscription returned
}

// noRetry is an r3labs ReconnectStrategy (backoff.BackOff) that gives up at once.
type noRetry struct{}

func (noRetry) NextBackOff() time.Duration { return stopRetrying }
func (noRetry) Reset()                     {}

// subscribe starts a subscription and waits for the server's answer.
func (s *r3Stream) subscribe(resume bool) error {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{DisableKeepAlives: true}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err == nil {
			s.mu.Lock()
			s.conn = c
			s.mu.Unlock()
		}
		return c, err
	}
	client := r3sse.NewClient(s.url, r3sse.ClientMaxBufferSize(64<<20))
	client.Connection = &http.Client{Transport: tr}
	client.ReconnectStrategy = noRetry{}
	if resume {
		client.LastEventID.Store([]byte(s.in.lastEventID()))
	}
	answered := make(chan error, 1)
	client.ResponseValidator = func(_ *r3sse.Client, resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			err := &endedError{Code: resp.StatusCode, Text: string(b)}
			answered <- err
			return err
		}
		answered <- nil
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cut, done := new(atomic.Bool), make(chan struct{})
	s.mu.Lock()
	s.tr, s.cut, s.cancel, s.done = tr, cut, cancel, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		err := client.SubscribeRawWithContext(ctx, func(ev *r3sse.Event) {
			if len(ev.Data) == 0 { // retry: only
				return
			}
			frames, err := decodeBatch(ev.Data)
			if err != nil {
				s.in.finish(&endedError{Err: err})
				return
			}
			s.in.pushEvent(frames, string(ev.ID))
		})
		select {
		case answered <- err: // failed before an answer
		default:
		}
		var end *endedError
		switch {
		case cut.Load() || errors.As(err, &end): // dropped, or refused (reported by subscribe)
		case err == nil:
			s.in.finish(&endedError{EOF: true})
		default:
			s.in.finish(&endedError{Err: err})
		}
	}()
	select {
	case err := <-answered:
		if err != nil {
			s.Drop()
			if errors.As(err, new(*endedError)) {
				return err
			}
			return &endedError{Err: err}
		}
		return nil
	case <-time.After(15 * time.Second):
		s.Drop()
		return &endedError{Err: errors.New("subscribe: no answer within 15 s")}
	}
}

func (s *r3Stream) Next(timeout time.Duration) ([]wireFrame, error) { return s.in.next(timeout) }
func (s *r3Stream) LastSeq() uint64                                 { return s.in.cursor() }
func (s *r3Stream) ResumeCursor() string                            { return s.in.resumeCursor() }

// Drop cuts the stream's TCP connection and waits for the subscription to end.
func (s *r3Stream) Drop() {
	s.mu.Lock()
	c, cut, cancel, done, tr := s.conn, s.cut, s.cancel, s.done, s.tr
	s.conn, s.cancel = nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cut.Store(true)
	cancel()
	if c != nil {
		_ = c.Close()
	}
	<-done
	tr.CloseIdleConnections()
}

// Resume subscribes again with Last-Event-ID.
func (s *r3Stream) Resume() error {
	s.Drop()
	return s.subscribe(true)
}

func (s *r3Stream) Close() { s.Drop() }
