package main

import (
	"container/list"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// socketReserve is how many file descriptors the automatic socket cap
// leaves to everything else (the listener, Redis, log files, the runtime).
const socketReserve = 64

// maxHeaderBytes bounds a request's header block: the API needs a token,
// a cookie or two and the usual browser headers, far below net/http's 1 MiB.
const maxHeaderBytes = 32 << 10

// sockets caps the client sockets of one node. A socket is evictable while
// it is not in the middle of serving a request: waiting for or reading its
// request line, headers or body, or idle between keep-alive requests. A
// socket whose handler has the whole request (an API call that runs, a
// long-poll that waits) or that a transport took over (WebSocket, SSE) is
// not. At the cap a new socket takes the place of the evictable socket that
// has been so the longest; when no socket is evictable the new one is
// answered 503 (after its request head, read for at most refuseWait) and
// closed. Stalled or silent clients therefore cannot keep /healthz or the
// API from being served, and long-lived transports are never cut by it. It
// is safe for concurrent use.
type sockets struct {
	max int
	log zerolog.Logger // sampled: at most a few lines per period

	mu        sync.Mutex
	open      int
	evictable list.List // of *trackedConn, longest evictable first

	openGauge prometheus.GaugeFunc
	shed      *prometheus.CounterVec // reason: "evicted" | "refused"
}

// newSockets caps client sockets at max; max <= 0 means the process's
// file limit minus socketReserve (at least 16).
func newSockets(max int, log zerolog.Logger) *sockets {
	if max <= 0 {
		max = autoSocketCap()
	}
	s := &sockets{
		max: max,
		log: log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "channelstream_client_sockets_shed_total",
			Help: "Client sockets closed because the node was at max_client_sockets: an unfinished or idle socket evicted for a new one, or a new one refused with 503 when none was.",
		}, []string{"reason"}),
	}
	s.openGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "channelstream_client_sockets",
		Help: "Open client sockets (max_client_sockets caps them).",
	}, func() float64 { return float64(s.Open()) })
	s.shed.WithLabelValues("evicted")
	s.shed.WithLabelValues("refused")
	return s
}

// autoSocketCap is the file limit less socketReserve.
func autoSocketCap() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<24 {
		return 1 << 20
	}
	return max(int(rl.Cur)-socketReserve, 16)
}

// register adds the socket metrics to reg.
func (s *sockets) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{s.openGauge, s.shed} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Open is the number of open client sockets.
func (s *sockets) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// Max is the cap.
func (s *sockets) Max() int { return s.max }

// listener wraps ln so that its sockets are counted and capped.
func (s *sockets) listener(ln net.Listener) net.Listener { return &cappedListener{Listener: ln, s: s} }

type cappedListener struct {
	net.Listener
	s *sockets
}

// Accept returns the next client socket, making room for it at the cap.
func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.s.admit(c); tc != nil {
			return tc, nil
		}
	}
}

// admit counts c in, evicting the longest evictable socket at the cap; it
// returns nil when c was refused.
func (s *sockets) admit(c net.Conn) *trackedConn {
	s.mu.Lock()
	var victim *trackedConn
	if s.open >= s.max {
		if e := s.evictable.Front(); e != nil {
			victim = e.Value.(*trackedConn)
			s.evictable.Remove(e)
			victim.elem = nil
		} else {
			s.mu.Unlock()
			s.shed.WithLabelValues("refused").Inc()
			s.log.Warn().Int("max_client_sockets", s.max).Str("remote", c.RemoteAddr().String()).
				Msg("max_client_sockets reached and every socket is serving a request: new sockets are answered 503")
			go refuse(c)
			return nil
		}
	}
	tc := &trackedConn{Conn: c, s: s}
	s.open++
	tc.elem = s.evictable.PushBack(tc)
	s.mu.Unlock()
	if victim != nil {
		s.shed.WithLabelValues("evicted").Inc()
		s.log.Warn().Int("max_client_sockets", s.max).Str("evicted", victim.RemoteAddr().String()).
			Msg("max_client_sockets reached: closed the socket that waited longest without a whole request")
		_ = victim.Close() // net/http notices and closes it again: a no-op
	}
	return tc
}

// refusalBody is the JSON body of the answer to a socket refused at the cap.
const refusalBody = `{"error": "the server has too many open sockets (max_client_sockets); try again later"}`

// refusal is the whole answer to a socket refused at the cap.
var refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
	"Connection: close\r\nContent-Length: " + strconv.Itoa(len(refusalBody)) + "\r\n\r\n" + refusalBody

// refuseWait bounds how long a refused socket is read before its answer:
// an HTTP client takes an answer that arrives before it sent its request
// for a broken connection, not for a 503.
const refuseWait = 500 * time.Millisecond

// refuse reads what c sends of its request head for up to refuseWait,
// answers 503 and closes it.
func refuse(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(refuseWait))
	buf := make([]byte, 4096)
	var head []byte
	for len(head) < 16<<10 && !strings.Contains(string(head), "\r\n\r\n") {
		n, err := c.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil {
			break
		}
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(c, refusal)
	_ = c.Close()
}

// busy takes c out of the evictable list (a handler has one of its
// requests, or a transport took it over); each busy of a request is
// matched by one idle.
func (s *sockets) busy(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.serving++
	if c.elem != nil {
		s.evictable.Remove(c.elem)
		c.elem = nil
	}
}

// idle ends one busy; when no request of c is being served any more (an
// HTTP/2 socket carries many at once: an SSE stream stays while API calls
// come and go) it puts c back at the end of the evictable list, unless it
// was closed or taken over.
func (s *sockets) idle(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.serving--
	if c.serving == 0 && c.elem == nil && !c.closed && !c.hijacked {
		c.elem = s.evictable.PushBack(c)
	}
}

// trackedConn is a counted client socket.
type trackedConn struct {
	net.Conn
	s *sockets
	// Guarded by s.mu:
	elem     *list.Element // in s.evictable, or nil
	serving  int           // requests between busy and idle
	closed   bool
	hijacked bool
}

// Close closes the socket and counts it out (once).
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	s := c.s
	s.mu.Lock()
	if !c.closed {
		c.closed = true
		s.open--
		if c.elem != nil {
			s.evictable.Remove(c.elem)
			c.elem = nil
		}
	}
	s.mu.Unlock()
	return err
}

// CloseWrite half-closes the socket, as net/http does before it closes a
// connection after an answer it sent early (413, say), so that the client
// reads the answer instead of a reset.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn is the socket under the wrapper (as crypto/tls names it).
func (c *trackedConn) NetConn() net.Conn { return c.Conn }

// SyscallConn gives the transports that write with raw system calls the
// socket's file descriptor.
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("the socket has no file descriptor")
	}
	return sc.SyscallConn()
}

type trackedConnKey struct{}

// connContext is http.Server.ConnContext: it records the request's socket.
func connContext(ctx context.Context, c net.Conn) context.Context {
	for {
		if tc, ok := c.(*trackedConn); ok {
			return context.WithValue(ctx, trackedConnKey{}, tc)
		}
		inner, ok := c.(interface{ NetConn() net.Conn }) // crypto/tls
		if !ok {
			return ctx
		}
		c = inner.NetConn()
	}
}

// connState is http.Server.ConnState: a socket a handler took over is
// never evicted.
func (s *sockets) connState(c net.Conn, st http.ConnState) {
	if st != http.StateHijacked {
		return
	}
	if tc, ok := connContext(context.Background(), c).Value(trackedConnKey{}).(*trackedConn); ok {
		s.mu.Lock()
		tc.hijacked = true
		s.mu.Unlock()
		s.busy(tc)
	}
}

// serveHTTP wraps next: a request with a body must deliver it within
// bodyTimeout, and its socket stays evictable until it has; the socket is
// busy while next runs after that, and evictable again when next returns.
func (s *sockets) serveHTTP(next http.Handler, bodyTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tc, _ := r.Context().Value(trackedConnKey{}).(*trackedConn)
		if tc == nil {
			next.ServeHTTP(w, r)
			return
		}
		var marked atomic.Bool // this request's busy, matched by its idle
		busy := func() {
			if marked.CompareAndSwap(false, true) {
				s.busy(tc)
			}
		}
		defer func() {
			if !marked.CompareAndSwap(false, true) { // no busy after this
				s.idle(tc)
			}
		}()
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			rc := http.NewResponseController(w)
			if err := rc.SetReadDeadline(time.Now().Add(bodyTimeout)); err == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, done: func() {
					_ = rc.SetReadDeadline(time.Time{})
					busy()
				}}
			}
		} else {
			busy()
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody calls done once, when the body has been read to its end.
type deadlineBody struct {
	io.ReadCloser
	done func()
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.once.Do(b.done)
	}
	return n, err
}
