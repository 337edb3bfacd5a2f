package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"
)

// stallGate holds the readers of stallers while closed.
type stallGate struct {
	mu   sync.Mutex
	open chan struct{} // closed while reading is allowed
	// silent counts the stallers that gave their connection up after
	// stallSilence without a frame (see stallWS and sseReader).
	silent atomic.Int64
	// sockets are what ss(8) showed of the node's port's TCP connections
	// with bytes queued, at each such give-up: whether the node still
	// held the silent connection, or only the client did.
	sockets []string
}

// notes returns what gaveUp recorded.
func (g *stallGate) notes() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sockets)
}

// gaveUp records a staller's give-up on a silent connection to the node
// at nodeURL.
func (g *stallGate) gaveUp(nodeURL string) {
	g.silent.Add(1)
	u, err := url.Parse(nodeURL)
	if err != nil {
		return
	}
	port := u.Port()
	out, err := exec.Command("ss", "-tnoH", "state", "all", "( sport = :"+port+" or dport = :"+port+" )").CombinedOutput()
	var queued []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[1] != "0" || f[2] != "0") {
			queued = append(queued, line)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sockets = append(g.sockets, fmt.Sprintf("%s (err %v): %d connections with bytes queued:\n%s",
		time.Now().Format("15:04:05.000"), err, len(queued), strings.Join(queued, "\n")))
}

// stallSilence is how long a staller that reads again waits for a frame
// (WebSocket) or a line (SSE) before it takes the connection for dead and
// resumes, as a client that knows the server's heartbeat does (the soak's
// node sends one every 5 s). The node may have closed the socket of a staller whose
// writes timed out while its receive window was shut; Linux can then drop
// the orphaned connection without a word to the client (window probes of
// an orphan are limited, and their abort sends no RST), which would
// otherwise wait for ever.
const stallSilence = 20 * time.Second

// errStallSilent is wrapped by the end of a staller that gave a silent
// connection up: by the time it resumes, the node may have collected the
// connection (no transport for conn_timeout since its cut), which is then
// no loss.
var errStallSilent = errors.New("staller gave a silent connection up")

func newStallGate() *stallGate {
	g := &stallGate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *stallGate) stall() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

func (g *stallGate) unstall() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// wait returns when reading is allowed or quit is closed.
func (g *stallGate) wait(quit <-chan struct{}) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-quit:
	}
}

// stallRcvBuf is the socket receive buffer of a staller. Left alone,
// Linux grows it up to tcp_rmem's maximum (32 MiB here), and with the TCP
// window the node's send buffer (up to tcp_wmem's 4 MiB): a stalled client
// would soak up any burst. With a few KiB, the buffers on both sides stay
// small and the node's queue takes the rest. (It also makes the staller
// slow while it reads, as delayed ACKs hold each small window back: a
// mobile client on a bad link.)
const stallRcvBuf = 4 << 10

// stallDialer dials with a small receive buffer (see setRcvBuf).
var stallDialer = &net.Dialer{Timeout: 10 * time.Second, Control: setRcvBuf(stallRcvBuf)}

// stallWS is a gorilla/websocket client that reads through a stallGate.
type stallWS struct {
	wsSubscriber
	gate *stallGate
	quit chan struct{} // closed by Close/Drop of the current socket
}

var stallWSDialer = &gws.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: stallDialer.DialContext}

func dialStallWS(base, connID string, in *inbox, resume bool, gate *stallGate) (*stallWS, error) {
	s := &stallWS{wsSubscriber: wsSubscriber{base: "ws" + strings.TrimPrefix(base, "http") + "/ws?conn_id=" + url.QueryEscape(connID), in: in}, gate: gate}
	u := s.base
	if resume {
		u += in.resumeQuery()
	}
	return s, s.attach(u)
}

func (s *stallWS) attach(u string) error {
	ws, resp, err := stallWSDialer.Dial(u, nil)
	if err != nil {
		return wsDialError(u, resp, err)
	}
	cut, done, quit := new(atomic.Bool), make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.ws, s.cut, s.done, s.quit = ws, cut, done, quit
	s.mu.Unlock()
	go func() {
		// wsSubscriber.read, one message at a time through the gate.
		defer close(done)
		for {
			s.gate.wait(quit)
			if err := ws.SetReadDeadline(time.Now().Add(stallSilence)); err != nil {
				s.in.finish(&endedError{Err: err})
				return
			}
			typ, data, err := ws.ReadMessage()
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() && !cut.Load() {
					s.gate.gaveUp(s.base)
					err = fmt.Errorf("%w after %v: %w", errStallSilent, stallSilence, err)
				}
				if !cut.Load() {
					var ce *gws.CloseError
					if errors.As(err, &ce) {
						s.in.finish(&endedError{Code: ce.Code, Text: ce.Text})
					} else {
						s.in.finish(&endedError{Err: err})
					}
				}
				return
			}
			frames, err := decodeBatch(data)
			if typ != gws.TextMessage || err != nil {
				s.in.finish(&endedError{Err: fmt.Errorf("bad message %d %q: %v", typ, data, err)})
				return
			}
			s.in.push(frames)
		}
	}()
	return nil
}

func (s *stallWS) Drop() {
	s.mu.Lock()
	quit := s.quit
	s.mu.Unlock()
	if quit != nil {
		select {
		case <-quit:
		default:
			close(quit)
		}
	}
	s.wsSubscriber.Drop()
}

func (s *stallWS) Resume() error {
	s.Drop()
	return s.attach(s.base + s.in.resumeQuery())
}

func (s *stallWS) Close() {
	s.Drop()
	s.wsSubscriber.Close()
}

// sseReader reads an SSE body with net/http and bufio, event by event,
// through an optional stallGate: the fields an EventSource would act on are
// id and data; comments and retry: are skipped.
type sseReader struct {
	url  string // GET /sse?conn_id=<id>
	in   *inbox
	gate *stallGate // nil: never stalls
	tr   *http.Transport

	mu   sync.Mutex
	body io.ReadCloser
	cut  *atomic.Bool
	quit chan struct{}
	done chan struct{}
}

// dialStallSSE opens an sseReader that reads through gate, with a small
// receive buffer.
func dialStallSSE(base, connID string, in *inbox, resume bool, gate *stallGate) (*sseReader, error) {
	s := &sseReader{url: base + "/sse?conn_id=" + url.QueryEscape(connID), in: in, gate: gate,
		tr: &http.Transport{DialContext: stallDialer.DialContext, DisableKeepAlives: true}}
	return s, s.open(resume)
}

// open requests the stream (with Last-Event-ID = the cursor when resume)
// and starts reading it; a refusal is an *endedError with the status.
func (s *sseReader) open(resume bool) error {
	req, err := http.NewRequest(http.MethodGet, s.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if resume {
		req.Header.Set("Last-Event-ID", s.in.lastEventID())
	}
	resp, err := s.tr.RoundTrip(req)
	if err != nil {
		return &endedError{Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		return &endedError{Code: resp.StatusCode, Text: string(b)}
	}
	cut, quit, done := new(atomic.Bool), make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.body, s.cut, s.quit, s.done = resp.Body, cut, quit, done
	s.mu.Unlock()
	go s.read(resp.Body, cut, quit, done)
	return nil
}

func (s *sseReader) read(body io.ReadCloser, cut *atomic.Bool, quit, done chan struct{}) {
	defer close(done)
	// A small buffer: while the gate is closed, little more than the
	// socket's receive buffer is taken from the server.
	r := bufio.NewReaderSize(body, 512)
	var data []byte
	var id string
	fail := func(err error) {
		if !cut.Load() {
			s.in.finish(err)
		}
	}
	for {
		var silence *time.Timer
		var silent atomic.Bool
		if s.gate != nil {
			s.gate.wait(quit)
			// A staller reading again gives a silent stream up, as the
			// WebSocket staller does (see stallSilence); the node sends
			// ": hb" every 5 s.
			silence = time.AfterFunc(stallSilence, func() { silent.Store(true); _ = body.Close() })
		}
		line, err := r.ReadBytes('\n')
		if silence != nil {
			silence.Stop()
			if silent.Load() && !cut.Load() {
				s.gate.gaveUp(s.url)
				err = fmt.Errorf("%w after %v: %w", errStallSilent, stallSilence, err)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) == 0 {
				fail(&endedError{EOF: true})
			} else {
				fail(&endedError{Err: err})
			}
			return
		}
		text := strings.TrimRight(string(line), "\r\n")
		switch {
		case text == "":
			if data != nil {
				frames, err := decodeBatch(data)
				if err != nil {
					fail(&endedError{Err: err})
					return
				}
				s.in.pushEvent(frames, id)
				data = nil
			}
		case strings.HasPrefix(text, "id:"):
			id = strings.TrimPrefix(strings.TrimPrefix(text, "id:"), " ")
		case strings.HasPrefix(text, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(text, "data:"), " ")...)
		}
	}
}

func (s *sseReader) Next(timeout time.Duration) ([]wireFrame, error) { return s.in.next(timeout) }
func (s *sseReader) LastSeq() uint64                                 { return s.in.cursor() }
func (s *sseReader) ResumeCursor() string                            { return s.in.resumeCursor() }

// Drop closes the stream under the reader and waits for it to stop.
func (s *sseReader) Drop() {
	s.mu.Lock()
	body, cut, quit, done := s.body, s.cut, s.quit, s.done
	s.body = nil
	s.mu.Unlock()
	if body == nil {
		return
	}
	cut.Store(true)
	close(quit)
	_ = body.Close()
	<-done
}

// Resume opens the stream again with Last-Event-ID (the resume cursor, or
// the last seq).
func (s *sseReader) Resume() error {
	s.Drop()
	return s.open(true)
}

func (s *sseReader) Close() {
	s.Drop()
	s.tr.CloseIdleConnections()
}
