package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// TestStalledClientsAreCutAndTheNodeStillAnswers runs the real binary
// under a file limit of 400 (so its socket cap is 336) and opens 2 000
// stalled requests at once: half send a POST's headers and never its
// body, half never finish their headers. Each is closed within its
// deadline (evicted at once when the cap is reached, else cut by
// header_timeout or body_timeout), /healthz and a signed /connect answer
// throughout, and a WebSocket attached before keeps receiving (issue 12,
// item 2).
func TestStalledClientsAreCutAndTheNodeStillAnswers(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit not found")
	}
	const (
		stalled  = 2000
		deadline = 2 * time.Second
		slack    = 3 * time.Second // the server's timers and this busy machine
	)
	bin := buildBinary(t)
	rb := startBinary(t, prlimit, nil, "--nofile=400:400", bin, "--host", "127.0.0.1", "--port", "0",
		"--secret", "stall-secret", "--header_timeout", deadline.String(), "--body_timeout", deadline.String())
	base := "http://" + rb.addr
	tg := &testGateway{t: t, URL: base, Secret: "stall-secret"}

	connID := tg.Connect("watcher", "news")
	ws, err := dialWS(base, connID)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	t.Cleanup(func() { ws.Close() })

	// The prober: /healthz and a signed /connect, each on a new socket,
	// must answer while the flood lasts.
	probe := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	stop := make(chan struct{})
	var probes, failures atomic.Int64
	var firstFailure atomic.Value
	var probing sync.WaitGroup
	probing.Add(1)
	go func() {
		defer probing.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if err := probeOnce(probe, base, tg.Secret); err != nil {
				failures.Add(1)
				firstFailure.CompareAndSwap(nil, err.Error())
			}
			probes.Add(1)
		}
	}()

	type stall struct {
		c    net.Conn
		sent time.Time
	}
	conns := make([]stall, stalled)
	var opening sync.WaitGroup
	errs := make(chan error, stalled)
	for w := range 20 {
		opening.Add(1)
		go func() {
			defer opening.Done()
			for i := w; i < stalled; i += 20 {
				c, err := net.DialTimeout("tcp", rb.addr, 5*time.Second)
				if err != nil {
					errs <- fmt.Errorf("dial %d: %w", i, err)
					return
				}
				req := "POST /connect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
				if i%2 == 1 {
					req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Stalled: "
				}
				_, _ = io.WriteString(c, req) // the server may already have closed it
				conns[i] = stall{c, time.Now()}
			}
		}()
	}
	opening.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range conns {
			s.c.Close()
		}
	})

	// Every stalled socket is closed by the server within its deadline.
	var late int
	var lateErr error
	for i, s := range conns {
		_ = s.c.SetReadDeadline(s.sent.Add(deadline + slack))
		_, err := io.Copy(io.Discard, s.c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			late++
			lateErr = fmt.Errorf("stalled socket %d still open %s after its request", i, deadline+slack)
		}
	}
	close(stop)
	probing.Wait()
	if late > 0 {
		t.Errorf("%d of %d stalled sockets were not closed in time: %v", late, stalled, lateErr)
	}
	if n := failures.Load(); n > 0 || probes.Load() < 5 {
		t.Errorf("%d of %d probes of /healthz and /connect failed (first: %v)", n, probes.Load(), firstFailure.Load())
	}
	if err := probeOnce(probe, base, tg.Secret); err != nil {
		t.Errorf("after the flood: %v", err)
	}

	t.Run("the WebSocket attached before the flood still receives", func(t *testing.T) {
		code, b := tg.Call("POST", "/message", []map[string]any{{"user": "system", "channel": "news", "message": map[string]any{"text": "after"}}})
		if code != http.StatusOK {
			t.Fatalf("/message: %d %s", code, b)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			frames, err := ws.Next(time.Until(deadline))
			if err != nil {
				t.Fatalf("no message on the WebSocket: %v", err)
			}
			for _, f := range frames {
				if m, _ := f["message"].(map[string]any); f.Type() == "message" && m["text"] == "after" {
					return
				}
			}
		}
	})
	t.Run("the cap is logged and counted", func(t *testing.T) {
		resp, err := probe.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`(?m)^channelstream_client_sockets_shed_total\{reason="evicted"\} ([0-9]+)$`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no evicted counter in /metrics:\n%s", b)
		}
		if n, _ := strconv.Atoi(string(m[1])); n == 0 {
			t.Fatalf("evicted counter is 0 after %d stalled sockets under a cap of 336", stalled)
		}
		if !regexp.MustCompile(`(?m)^channelstream_client_sockets [0-9]+$`).Match(b) {
			t.Fatalf("no open sockets gauge in /metrics:\n%s", b)
		}
		if logs := rb.Logs(); !strings.Contains(logs, "max_client_sockets reached") || !strings.Contains(logs, `"max_client_sockets":336`) {
			t.Fatalf("no log line about the cap:\n%.3000s", logs)
		}
	})
}

// probeOnce checks /healthz and a signed /connect on new sockets.
func probeOnce(hc *http.Client, base, secret string) error {
	resp, err := hc.Get(base + "/healthz")
	if err != nil {
		return fmt.Errorf("/healthz: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz: %d", resp.StatusCode)
	}
	req, err := http.NewRequest("POST", base+"/connect", strings.NewReader(`{"username": "prober"}`))
	if err != nil {
		return err
	}
	req.Header.Set("X-Channelstream-Secret", client.Sign(secret, "channelstream", time.Now()))
	resp, err = hc.Do(req)
	if err != nil {
		return fmt.Errorf("/connect: %w", err)
	}
	var v struct {
		ConnID string `json:"conn_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || v.ConnID == "" {
		return fmt.Errorf("/connect: %d %v", resp.StatusCode, err)
	}
	return nil
}

// TestSocketCapRefusesWhenEverySocketServes: at max_client_sockets with
// every socket taken by a transport, a new socket is answered 503 at once
// (and counted); the transports are not cut, and once one ends the node
// answers again.
func TestSocketCapRefusesWhenEverySocketServes(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		c.MaxClientSockets = 3
		c.HeartbeatInterval = 200 * time.Millisecond // an SSE stream notices its client left at a heartbeat
	})
	var streams []*http.Response
	for i := range 3 {
		id := tg.Connect(fmt.Sprintf("u%d", i), "c")
		resp, err := http.Get(tg.URL + "/sse?conn_id=" + id) // each on its own socket: the body stays open
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/sse: %d", resp.StatusCode)
		}
		streams = append(streams, resp)
	}
	t.Cleanup(func() {
		for _, r := range streams {
			r.Body.Close()
		}
	})
	pollUntil(t, 5*time.Second, "three open sockets", func() bool { return tg.g.sockets.Open() == 3 })
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(tg.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "max_client_sockets") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("at the cap: %d %s, want 503 naming max_client_sockets", resp.StatusCode, b)
	}
	var m dto.Metric
	if err := tg.g.sockets.shed.WithLabelValues("refused").Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		t.Fatalf("refused counter %v (%v), want 1", m.GetCounter().GetValue(), err)
	}
	streams[0].Body.Close()
	pollUntil(t, 5*time.Second, "a socket freed", func() bool { return tg.g.sockets.Open() < 3 })
	resp, err = hc.Get(tg.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after a stream ended: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestTrackedConnHalfCloses: net/http half-closes a socket (CloseWrite)
// after an answer it sent before reading the body (413), so that the
// client reads the answer rather than a reset; the wrapper must pass it on.
func TestTrackedConnHalfCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := newSockets(10, zerolog.Nop())
	capped := s.listener(ln)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := capped.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	cw, ok := server.(interface{ CloseWrite() error })
	if !ok {
		t.Fatal("the wrapped socket has no CloseWrite: net/http would close it outright")
	}
	if _, err := io.WriteString(server, "answer"); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "answer" {
		t.Fatalf("client read %q, %v; want the answer then EOF", got, err)
	}
	if _, err := io.WriteString(client, "rest of the body"); err != nil {
		t.Fatalf("the socket is closed for reading too: %v", err)
	}
	if s.Open() != 1 {
		t.Fatalf("%d open, want 1", s.Open())
	}
}
