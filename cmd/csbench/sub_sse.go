package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// sseSub is a Server-Sent Events subscriber: a raw TCP connection, the
// response head parsed by net/http, then a bufio line reader that joins an
// event's data lines and scans them for markers when the blank line ends
// the event. It is much lighter than a general SSE client: one goroutine
// and one 4 KiB buffer per stream.
type sseSub struct {
	c       net.Conn
	closing atomic.Bool
	gate    stallGate
	done    chan struct{}
}

func dialSSE(ctx context.Context, dl *dialer, base, connID string, rec *Receiver) (*sseSub, error) {
	host := strings.TrimPrefix(base, "http://")
	c, err := dl.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("GET /sse: %w", err)
	}
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	if _, err := fmt.Fprintf(c, "GET /sse?conn_id=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n", connID, host); err != nil {
		c.Close()
		return nil, fmt.Errorf("GET /sse: %w", err)
	}
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("GET /sse: read response head: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		c.Close()
		return nil, fmt.Errorf("GET /sse: %s: %s", resp.Status, body)
	}
	body := br // the body runs until the connection closes
	if len(resp.TransferEncoding) > 0 || resp.ContentLength >= 0 {
		body = bufio.NewReaderSize(resp.Body, 4096)
	}
	_ = c.SetDeadline(time.Time{})
	s := &sseSub{c: c, done: make(chan struct{})}
	go s.read(body, rec)
	return s, nil
}

func (s *sseSub) read(br *bufio.Reader, rec *Receiver) {
	defer close(s.done)
	var data, long []byte
	for {
		s.gate.wait()
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			if !s.closing.Load() {
				rec.Ended(fmt.Errorf("sse: %w", err))
			}
			return
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0: // end of event
			if len(data) > 0 {
				if scanMarkers(data, time.Now().UnixNano(), rec) > 0 {
					rec.Frame()
				}
				data = data[:0]
			}
		case bytes.HasPrefix(line, []byte("data:")):
			v := bytes.TrimPrefix(line[5:], []byte(" "))
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, v...)
		}
		// Comments (heartbeats), id: and retry: lines need nothing.
	}
}

// Close implements Subscriber.
func (s *sseSub) Close() {
	s.closing.Store(true)
	s.gate.unstall()
	_ = s.c.Close()
	<-s.done
}

// Stall implements Subscriber.
func (s *sseSub) Stall() { s.gate.stall() }

// Unstall implements Subscriber.
func (s *sseSub) Unstall() { s.gate.unstall() }
