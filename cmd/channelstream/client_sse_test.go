package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	r3sse "github.com/r3labs/sse/v2"
)

// sseSubscriber is an r3labs/sse/v2 (v2.10.0) client of GET /sse.
//
// What its source says, and how this wrapper deals with it:
//   - SubscribeRawWithContext retries a failed stream through
//     Client.ReconnectStrategy (default: exponential backoff for up to 15
//     minutes; the retry loop does not watch the context, so a cancelled
//     one just fails every retry). Here the strategy is a gate: it waits
//     for Resume (retry now) or Close (stop), so that Drop leaves the
//     client disconnected until the test says otherwise.
//   - It stores every event's id in Client.LastEventID and sends it as
//     Last-Event-ID on every later request of the same Client: resuming is
//     its own doing, as with a browser's EventSource.
//   - A stream that ends cleanly (EOF) is not retried: the subscription
//     returns nil. EventStreamReader also turns a context.Canceled read
//     error into EOF.
//   - Comment lines (": hb") are not events: a reader wrapped around the
//     response body counts them, and each becomes an empty batch.
//   - Events longer than 64 KiB fail the stream by default
//     (ClientMaxBufferSize); a batch of 256 frames can come close, so the
//     limit is raised.
type sseSubscriber struct {
	client *r3sse.Client
	tr     *http.Transport
	in     *inbox
	gate   *reconnectGate
	cancel context.CancelFunc
	done   chan struct{} // closed when the subscription returned

	mu      sync.Mutex
	conn    net.Conn // the current stream's TCP connection
	closing bool
}

// openSSE subscribes to /sse for connID and waits for the stream to
// answer, failing the test on error; Close runs at cleanup.
func openSSE(t testing.TB, baseURL, connID string) *sseSubscriber {
	t.Helper()
	s, err := dialSSE(baseURL, connID)
	if err != nil {
		t.Fatalf("sse: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// dialSSE subscribes to /sse for connID and returns once the server
// answered (200, or the error).
func dialSSE(baseURL, connID string) (*sseSubscriber, error) {
	s := &sseSubscriber{in: newInbox(), gate: newReconnectGate(), done: make(chan struct{})}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	s.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err == nil {
				s.mu.Lock()
				s.conn = c
				s.mu.Unlock()
			}
			return c, err
		},
		DisableKeepAlives: true,
	}
	answered := make(chan error, 1)
	s.client = r3sse.NewClient(baseURL+"/sse?conn_id="+url.QueryEscape(connID), r3sse.ClientMaxBufferSize(1<<20))
	s.client.Connection = &http.Client{Transport: sseRoundTrip(func(req *http.Request) (*http.Response, error) {
		resp, err := s.tr.RoundTrip(req)
		if err == nil && resp.StatusCode == http.StatusOK {
			resp.Body = &heartbeatCounter{ReadCloser: resp.Body, in: s.in}
		}
		return resp, err
	})}
	s.client.ReconnectStrategy = s.gate
	s.gate.onWait = func() { // a failure before the first answer
		select {
		case answered <- fmt.Errorf("stream failed before the server answered"):
		default:
		}
	}
	s.client.ResponseValidator = func(_ *r3sse.Client, resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			err := &endedError{Code: resp.StatusCode, Text: string(b)}
			s.in.finish(err)
			select {
			case answered <- err:
			default:
			}
			return err
		}
		select {
		case answered <- nil:
		default:
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		err := s.client.SubscribeRawWithContext(ctx, func(ev *r3sse.Event) {
			if len(ev.Data) == 0 { // the greeting's "retry:"
				return
			}
			frames, err := decodeBatch(ev.Data)
			if err != nil {
				s.in.finish(&endedError{Err: err})
				return
			}
			s.in.push(frames)
		})
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if closing {
			return
		}
		if err == nil {
			s.in.finish(&endedError{EOF: true})
		} else {
			s.in.finish(&endedError{Err: err})
		}
		select {
		case answered <- err:
		default:
		}
	}()
	select {
	case err := <-answered:
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		return s, nil
	case <-time.After(10 * time.Second):
		s.Close()
		return nil, fmt.Errorf("subscribe: no answer within 10 s")
	}
}

func (s *sseSubscriber) Next(timeout time.Duration) ([]wireFrame, error) {
	return s.in.next(timeout)
}

func (s *sseSubscriber) LastSeq() uint64 { return s.in.cursor() }

// Drop closes the stream's TCP connection; the client then waits in its
// reconnect strategy for Resume.
func (s *sseSubscriber) Drop() {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// Resume lets the client reconnect; r3labs sends Last-Event-ID itself.
func (s *sseSubscriber) Resume() error {
	s.gate.open()
	return nil
}

// Close stops the client for good and waits for its goroutines.
func (s *sseSubscriber) Close() {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closing = true
	c := s.conn
	s.mu.Unlock()
	s.gate.stop()
	s.cancel()
	if c != nil {
		_ = c.Close()
	}
	<-s.done
	s.tr.CloseIdleConnections()
}

// reconnectGate is an r3labs ReconnectStrategy (a backoff.BackOff) that
// retries only when the test allows it.
type reconnectGate struct {
	tokens  chan struct{} // buffered 1: one reconnection allowed
	stopped chan struct{}
	once    sync.Once
	onWait  func() // called each time the client asks to retry
}

// stopRetrying is backoff.Stop: the strategy gives up.
const stopRetrying time.Duration = -1

func newReconnectGate() *reconnectGate {
	return &reconnectGate{tokens: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// NextBackOff blocks until open (retry at once) or stop (give up).
func (g *reconnectGate) NextBackOff() time.Duration {
	select {
	case <-g.stopped:
		return stopRetrying
	default:
	}
	if g.onWait != nil {
		g.onWait()
	}
	select {
	case <-g.tokens:
		return 0
	case <-g.stopped:
		return stopRetrying
	}
}

func (g *reconnectGate) Reset() {}

func (g *reconnectGate) open() {
	select {
	case g.tokens <- struct{}{}:
	default:
	}
}

func (g *reconnectGate) stop() { g.once.Do(func() { close(g.stopped) }) }

type sseRoundTrip func(*http.Request) (*http.Response, error)

func (f sseRoundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// heartbeatCounter passes an SSE body through and queues an empty batch for
// every heartbeat comment line (": hb") it sees go by.
type heartbeatCounter struct {
	io.ReadCloser
	in   *inbox
	line [8]byte // the start of the current line
	n    int     // bytes of the current line seen (capped at len(line)+1)
}

func (h *heartbeatCounter) Read(p []byte) (int, error) {
	n, err := h.ReadCloser.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			if h.n == len(": hb") && string(h.line[:h.n]) == ": hb" {
				h.in.push([]wireFrame{})
			}
			h.n = 0
			continue
		}
		if h.n < len(h.line) {
			h.line[h.n] = b
		}
		if h.n <= len(h.line) {
			h.n++
		}
	}
	return n, err
}
