package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const (
	// pollRequestTimeout bounds one /listen request (the server answers
	// within longpoll_timeout, 5 s by default).
	pollRequestTimeout = 60 * time.Second
	// pollMaxErrors consecutive failed polls end the subscriber.
	pollMaxErrors = 5
)

// pollSub is a long-poll subscriber: one goroutine looping on
// GET /listen?conn_id=…&last_seq=N over its own keep-alive connection, so
// that nothing is lost or repeated between polls. It writes the request
// line itself and parses the answer with http.ReadResponse: much cheaper
// than http.Client, whose transport adds two goroutines and several
// channel hand-offs per request, which made the load generator the
// bottleneck at 10 000 polling clients.
type pollSub struct {
	dl      *dialer
	host    string
	req     []byte // the request up to the last_seq value
	conn    atomic.Pointer[net.Conn]
	closing atomic.Bool
	gate    stallGate
	done    chan struct{}
}

func startPoll(ctx context.Context, dl *dialer, base, connID string, rec *Receiver) (*pollSub, error) {
	host := strings.TrimPrefix(base, "http://")
	s := &pollSub{dl: dl, host: host, done: make(chan struct{}),
		req: []byte("GET /listen?conn_id=" + connID + "&last_seq=")}
	// Open the socket now, within the caller's rate limit, rather than in
	// a burst of first polls.
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	go s.loop(c, rec)
	return s, nil
}

func (s *pollSub) dial(ctx context.Context) (net.Conn, error) {
	c, err := s.dl.DialContext(ctx, "tcp", s.host)
	if err != nil {
		return nil, fmt.Errorf("longpoll: %w", err)
	}
	s.conn.Store(&c)
	if s.closing.Load() { // Close ran while dialling
		c.Close()
		return nil, net.ErrClosed
	}
	return c, nil
}

func (s *pollSub) loop(c net.Conn, rec *Receiver) {
	defer close(s.done)
	var br *bufio.Reader
	if c != nil {
		br = bufio.NewReaderSize(c, 4096)
	}
	var last uint64
	buf := make([]byte, 0, 512)
	req := make([]byte, 0, len(s.req)+64)
	fails := 0
	for !s.closing.Load() {
		s.gate.wait()
		var err error
		if c == nil {
			if c, err = s.dial(context.Background()); err == nil {
				br = bufio.NewReaderSize(c, 4096)
			}
		}
		status, keep := 0, false
		if err == nil {
			req = append(strconv.AppendUint(append(req[:0], s.req...), last, 10), " HTTP/1.1\r\nHost: "...)
			req = append(append(req, s.host...), "\r\n\r\n"...)
			buf, status, keep, err = pollOnce(c, br, req, buf[:0])
		}
		if s.closing.Load() {
			return
		}
		if !keep && c != nil {
			c.Close()
			c = nil
		}
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("longpoll: status %d: %.200s", status, buf)
			fails = pollMaxErrors // the connection is gone: no retry
		}
		if err != nil {
			if fails++; fails >= pollMaxErrors {
				rec.Ended(err)
				return
			}
			time.Sleep(time.Duration(fails) * 100 * time.Millisecond) // then resume from last
			continue
		}
		fails = 0
		if scanMarkers(buf, time.Now().UnixNano(), rec) > 0 {
			rec.Frame()
		}
		if seq, ok := maxServerSeq(buf); ok {
			last = max(last, seq)
		}
	}
}

// pollOnce sends req on c and appends the answer's body to buf. keep says
// whether c may carry the next request.
func pollOnce(c net.Conn, br *bufio.Reader, req, buf []byte) (_ []byte, status int, keep bool, err error) {
	_ = c.SetDeadline(time.Now().Add(pollRequestTimeout))
	if _, err := c.Write(req); err != nil {
		return buf, 0, false, fmt.Errorf("longpoll: send: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return buf, 0, false, fmt.Errorf("longpoll: read answer: %w", err)
	}
	buf, err = readInto(resp.Body, buf)
	resp.Body.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return buf, resp.StatusCode, false, fmt.Errorf("longpoll: read answer: %w", err)
	}
	return buf, resp.StatusCode, !resp.Close, nil
}

// Stall implements Subscriber: no more polls until Unstall.
func (s *pollSub) Stall() { s.gate.stall() }

// Unstall implements Subscriber.
func (s *pollSub) Unstall() { s.gate.unstall() }

// Close implements Subscriber.
func (s *pollSub) Close() {
	s.closing.Store(true)
	s.gate.unstall()
	if c := s.conn.Load(); c != nil {
		(*c).Close()
	}
	<-s.done
}
