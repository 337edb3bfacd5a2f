package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// browserProxy is a TCP proxy between the browser and the node whose kill
// resets every connection through it, the way a dropped network path ends
// them (the browser sees a reset, the node a dead peer). It records the
// head of every request that passes.
type browserProxy struct {
	URL    string
	ln     net.Listener
	target string

	blackholed atomic.Bool  // node→browser bytes are swallowed
	dropped    atomic.Int64 // bytes swallowed since the last kill

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	reqs  []browserProxyRequest
}

// browserProxyRequest is one request seen by a browserProxy.
type browserProxyRequest struct {
	Path, Query string
	LastEventID string // the Last-Event-ID header
}

func newBrowserProxy(t *testing.T, target string) *browserProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &browserProxy{URL: "http://" + ln.Addr().String(), ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		_, _ = p.kill()
	})
	return p
}

func (p *browserProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *browserProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

func (p *browserProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// pipe forwards one browser connection to the node, parsing the request
// heads on the way (every browser request here is a bodiless GET; after a
// WebSocket handshake it stops parsing).
func (p *browserProxy) pipe(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	p.track(client, server)
	defer func() {
		p.untrack(client, server)
		_ = client.Close()
		_ = server.Close()
	}()
	go func() {
		p.toBrowser(client, server)
		_ = client.Close()
	}()
	br := bufio.NewReader(io.TeeReader(client, server))
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			break
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, browserProxyRequest{Path: req.URL.Path, Query: req.URL.RawQuery, LastEventID: req.Header.Get("Last-Event-ID")})
		p.mu.Unlock()
		_, _ = io.Copy(io.Discard, req.Body)
		if strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
			break
		}
	}
	// Whatever follows (WebSocket frames) goes through the tee unparsed.
	_, _ = io.Copy(io.Discard, br)
}

// toBrowser copies the node's bytes to the browser, or swallows them while
// the proxy is blackholed.
func (p *browserProxy) toBrowser(client, server net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			if p.blackholed.Load() {
				p.dropped.Add(int64(n))
			} else if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// blackhole makes the path swallow everything the node sends, as a
// network that died without a word, until the next kill.
func (p *browserProxy) blackhole() { p.blackholed.Store(true) }

// awaitDropped waits until the blackhole swallowed a byte, at most max.
func (p *browserProxy) awaitDropped(max time.Duration) {
	for deadline := time.Now().Add(max); p.dropped.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// kill resets every connection through the proxy and reports how many
// browser connections it cut and how many bytes the blackhole swallowed.
func (p *browserProxy) kill() (killed int, dropped int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() {
		p.blackholed.Store(false)
		dropped = p.dropped.Swap(0)
	}()
	n := 0
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN: a path that died, not a peer that said goodbye
			if tc.RemoteAddr().String() != p.target {
				n++ // a browser's connection, not ours to the node
			}
		}
		_ = c.Close()
		delete(p.conns, c)
	}
	return n, 0
}

func (p *browserProxy) requests() []browserProxyRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}
