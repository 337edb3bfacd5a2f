package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// pollSubscriber is a net/http client polling GET /listen in a loop, one
// poll at a time, like channelstream's browser client. Until it has a
// cursor it polls without last_seq (upstream semantics: a written answer
// counts as delivered); once it has received a seq, or after Resume, every
// poll carries last_seq=LastSeq (or the node's resume cursor once it gave
// one), which acknowledges what it has and makes an answer lost on the way
// come again.
type pollSubscriber struct {
	base   string // http://host/listen?conn_id=<id>
	client *http.Client
	own    bool // client is ours to clean up
	in     *inbox

	mu      sync.Mutex
	resumed bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when the current loop returns
}

// openPoll starts polling /listen for connID with client (nil: a client of
// its own); Close runs at cleanup.
func openPoll(t testing.TB, baseURL, connID string, client *http.Client) *pollSubscriber {
	t.Helper()
	s := startPoll(baseURL, connID, client)
	t.Cleanup(s.Close)
	return s
}

// startPoll starts polling /listen for connID.
func startPoll(baseURL, connID string, client *http.Client) *pollSubscriber {
	s := &pollSubscriber{base: baseURL + "/listen?conn_id=" + url.QueryEscape(connID), client: client, in: newInbox()}
	if client == nil {
		s.client, s.own = &http.Client{Transport: &http.Transport{}}, true
	}
	s.start()
	return s
}

func (s *pollSubscriber) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.mu.Lock()
	s.cancel, s.done = cancel, done
	s.mu.Unlock()
	go s.loop(ctx, done)
}

func (s *pollSubscriber) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		u := s.base
		s.mu.Lock()
		withCursor := s.resumed
		s.mu.Unlock()
		if last := s.in.cursor(); withCursor || last > 0 {
			u += s.in.resumeQuery()
		}
		frames, err := s.poll(ctx, u)
		if ctx.Err() != nil {
			return // dropped or closed: whatever was on the way is lost
		}
		if err != nil {
			s.in.finish(err)
			return
		}
		s.in.push(frames)
	}
}

// poll makes one request and decodes its answer.
func (s *pollSubscriber) poll(ctx context.Context, u string) ([]wireFrame, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &endedError{Err: err}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, &endedError{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &endedError{Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &endedError{Code: resp.StatusCode, Text: string(body)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return nil, &endedError{Err: fmt.Errorf("Content-Type %q, want application/json", ct)}
	}
	frames, err := decodeBatch(body)
	if err != nil {
		return nil, &endedError{Err: err}
	}
	return frames, nil
}

func (s *pollSubscriber) Next(timeout time.Duration) ([]wireFrame, error) {
	return s.in.next(timeout)
}

func (s *pollSubscriber) LastSeq() uint64 { return s.in.cursor() }

// ResumeCursor is the last resume cursor received ("" when none).
func (s *pollSubscriber) ResumeCursor() string { return s.in.resumeCursor() }

// Drop cancels the poll in flight, which closes its TCP connection, and
// stops polling.
func (s *pollSubscriber) Drop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	cancel()
	<-done
}

// Resume polls again with cursor= once the node gave one, else
// last_seq=LastSeq.
func (s *pollSubscriber) Resume() error {
	s.Drop()
	s.mu.Lock()
	s.resumed = true
	s.mu.Unlock()
	s.start()
	return nil
}

// Close stops polling for good.
func (s *pollSubscriber) Close() {
	s.Drop()
	if s.own {
		s.client.CloseIdleConnections()
	}
}
