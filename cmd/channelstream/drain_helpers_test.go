package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// subscriberLog records, with their arrival times, the batches a
// subscriber delivers and how it ended; a goroutine reads it until the end.
type subscriberLog struct {
	mu      sync.Mutex
	batches []loggedBatch
	endAt   time.Time
	end     error
	done    chan struct{}
}

type loggedBatch struct {
	at     time.Time
	frames []wireFrame
}

// logSubscriber starts reading sub until it ends or the test is over.
func logSubscriber(t *testing.T, sub subscriber) *subscriberLog {
	l := &subscriberLog{done: make(chan struct{})}
	quit := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() { close(quit); <-stopped })
	go func() {
		defer close(stopped)
		for {
			batch, err := sub.Next(50 * time.Millisecond)
			now := time.Now()
			switch {
			case errors.Is(err, errNoBatch):
				select {
				case <-quit:
					return
				default:
				}
			case err != nil:
				l.mu.Lock()
				l.endAt, l.end = now, err
				l.mu.Unlock()
				close(l.done)
				return
			default:
				l.mu.Lock()
				l.batches = append(l.batches, loggedBatch{now, batch})
				l.mu.Unlock()
			}
		}
	}()
	return l
}

// waitText waits for a frame whose message.text is text.
func (l *subscriberLog) waitText(t *testing.T, text string, within time.Duration, what string) {
	t.Helper()
	pollUntil(t, within, what+" receives "+text, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, b := range l.batches {
			for _, f := range b.frames {
				if f.Text() == text {
					return true
				}
			}
		}
		return false
	})
}

// batchAfter returns when the first batch (heartbeats included) after t0 arrived.
func (l *subscriberLog) batchAfter(t0 time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.batches {
		if b.at.After(t0) {
			return b.at, true
		}
	}
	return time.Time{}, false
}

// waitEnd waits for the end and returns when and how it came.
func (l *subscriberLog) waitEnd(t *testing.T, within time.Duration) (time.Time, error) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(within):
		t.Fatalf("the transport did not end within %v: %s", within, l.summary())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.endAt, l.end
}

func (l *subscriberLog) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d batches, end %v at %v", len(l.batches), l.end, l.endAt)
}

// rawSSEStream reads GET /sse line by line with net/http, to see the
// fields an EventSource hides (retry:) and when the stream ended.
type rawSSEStream struct {
	mu    sync.Mutex
	lines []string
	endAt time.Time
	err   error // nil on a clean EOF
	done  chan struct{}
}

// openRawSSE opens /sse for connID; the stream must answer 200.
func openRawSSE(t *testing.T, base, connID string) *rawSSEStream {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(base + "/sse?conn_id=" + url.QueryEscape(connID))
	if err != nil {
		t.Fatalf("sse: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sse: %d", resp.StatusCode)
	}
	s := &rawSSEStream{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			s.mu.Lock()
			if line != "" {
				s.lines = append(s.lines, strings.TrimRight(line, "\n"))
			}
			if err != nil {
				s.endAt = time.Now()
				if !errors.Is(err, io.EOF) {
					s.err = err
				}
			}
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

// waitData waits for a data: line whose frames carry message.text = text.
func (s *rawSSEStream) waitData(t *testing.T, text string, within time.Duration, what string) {
	t.Helper()
	pollUntil(t, within, what+" receives "+text, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, l := range s.lines {
			if data, ok := strings.CutPrefix(l, "data: "); ok {
				frames, err := decodeBatch([]byte(data))
				if err == nil && slices.ContainsFunc(frames, func(f wireFrame) bool { return f.Text() == text }) {
					return true
				}
			}
		}
		return false
	})
}

// endHint waits for the end of the stream and returns the retry: value
// written after the last event, and when the stream ended. The stream must
// end cleanly, and the hint must come after the greeting's retry: and
// after every event.
func (s *rawSSEStream) endHint() (int, time.Time, error) {
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		return 0, time.Time{}, errors.New("the stream did not end")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.endAt, fmt.Errorf("the stream failed: %w", s.err)
	}
	retryAt, dataAt, retries := -1, -1, 0
	for i, l := range s.lines {
		switch {
		case strings.HasPrefix(l, "retry:"):
			retryAt, retries = i, retries+1
		case strings.HasPrefix(l, "data:"):
			dataAt = i
		}
	}
	if retries < 2 || retryAt < dataAt {
		return 0, s.endAt, fmt.Errorf("no retry: after the last event (%d retry lines): %q", retries, s.lines)
	}
	ms, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(s.lines[retryAt], "retry:")))
	if err != nil || ms <= 0 {
		return 0, s.endAt, fmt.Errorf("bad retry line %q", s.lines[retryAt])
	}
	return ms, s.endAt, nil
}

// readyProbe polls /readyz every 5 ms and keeps every answer.
type readyProbe struct {
	mu    sync.Mutex
	log   []probeResult
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
	first map[int]time.Time // when each status was first answered (by send time)
}

type probeResult struct {
	sent   time.Time
	status int // 0: no answer (the process is gone)
}

func startReadyProbe(base string) *readyProbe {
	p := &readyProbe{quit: make(chan struct{}), done: make(chan struct{}), first: map[int]time.Time{}}
	client := &http.Client{Timeout: time.Second}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			sent := time.Now()
			status := 0
			if resp, err := client.Get(base + "/readyz"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			p.mu.Lock()
			p.log = append(p.log, probeResult{sent, status})
			if _, ok := p.first[status]; !ok {
				p.first[status] = sent
			}
			p.mu.Unlock()
			select {
			case <-p.quit:
				client.CloseIdleConnections()
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// waitStatus waits until /readyz has answered status and returns when the
// first such probe was sent.
func (p *readyProbe) waitStatus(t *testing.T, status int, within time.Duration) time.Time {
	t.Helper()
	var at time.Time
	pollUntil(t, within, fmt.Sprintf("/readyz answers %d", status), func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		var ok bool
		at, ok = p.first[status]
		return ok
	})
	return at
}

func (p *readyProbe) results() []probeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.log)
}

func (p *readyProbe) stop() {
	p.once.Do(func() { close(p.quit) })
	<-p.done
}

// isErrorJSON reports whether body is a JSON object with a non-empty
// "error" string.
func isErrorJSON(body []byte) bool {
	var v map[string]any
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	s, _ := v["error"].(string)
	return s != ""
}
