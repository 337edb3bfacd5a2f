package sse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	r3sse "github.com/r3labs/sse/v2"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/sse"
)

// idleConns is how many idle streams BenchmarkIdleMemory holds.
const idleConns = 2000

// BenchmarkIdleMemory holds idleConns idle SSE streams with each server and
// reports what one costs the process: live heap, goroutine stacks, resident
// memory and goroutines. Clients are bare TCP sockets in the same process
// (no goroutine, no buffer); "tcp-only" measures such sockets against a
// listener that only accepts, the floor under both servers. Run with
// -benchtime=1x.
func BenchmarkIdleMemory(b *testing.B) {
	servers := []struct {
		name string
		h    func(*core.Hub) http.Handler
	}{
		{"tcp-only", nil},
		{"plain", func(hub *core.Hub) http.Handler { return sse.New(sse.Config{Hub: hub}) }},
		{"plain-nohijack", func(hub *core.Hub) http.Handler { return sse.New(sse.Config{Hub: hub, NoHijack: true}) }},
		{"r3labs-buffer1024", func(hub *core.Hub) http.Handler { return newR3Handler(hub, 5*time.Second, 1024) }},
		{"r3labs-buffer16", func(hub *core.Hub) http.Handler { return newR3Handler(hub, 5*time.Second, 16) }},
	}
	for _, s := range servers {
		b.Run(s.name, func(b *testing.B) {
			for range b.N {
				measureIdle(b, s.h, idleConns)
			}
		})
	}
}

func measureIdle(b *testing.B, handler func(*core.Hub) http.Handler, n int) {
	hub := core.New(core.Config{ConnTimeout: time.Hour})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = connect(b, hub, fmt.Sprint("u", i), "c")
	}
	var addr string
	var accepted []net.Conn
	if handler == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range n {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted = append(accepted, c)
			}
		}()
		defer func() {
			<-done
			for _, c := range accepted {
				c.Close()
			}
		}()
		addr = ln.Addr().String()
	} else {
		srv := httptest.NewServer(handler(hub))
		defer srv.Close()
		addr = srv.Listener.Addr().String()
	}

	before := memNow()
	clients := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	buf := make([]byte, 1024)
	for _, id := range ids {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		if handler == nil {
			continue
		}
		fmt.Fprintf(c, "GET /sse?conn_id=%s HTTP/1.1\r\nHost: x\r\n\r\n", id)
		// Wait for the response head: the stream is attached and idle.
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		got := 0
		for !bytes.Contains(buf[:got], []byte("\r\n\r\n")) {
			k, err := c.Read(buf[got:])
			if err != nil {
				b.Fatalf("conn %s: %v after %q", id, err, buf[:got])
			}
			got += k
		}
	}
	after := memNow()
	if path := os.Getenv("SSE_HEAP_PROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	perConn := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	b.ReportMetric(perConn(after.heap, before.heap), "heap-B/conn")
	b.ReportMetric(perConn(after.stack, before.stack), "stack-B/conn")
	b.ReportMetric(perConn(after.rss, before.rss), "rss-B/conn")
	b.ReportMetric(perConn(after.goroutines, before.goroutines), "goroutines/conn")
	b.ReportMetric(0, "ns/op")
}

type memSample struct{ heap, stack, rss, goroutines uint64 }

// memNow collects garbage (twice, so idle stacks shrink), returns freed
// memory to the OS and samples the process.
func memNow() memSample {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapAlloc, stack: ms.StackInuse, rss: rss(), goroutines: uint64(runtime.NumGoroutine())}
}

// rss is the resident set size from /proc/self/statm (0 elsewhere).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// BenchmarkFanout publishes one message at a time to a channel with n
// attached SSE clients (r3labs clients on loopback) and reports delivered
// messages per second and the publish→receive latency. At most fanoutWindow
// messages are in flight. ns/op is per publish.
func BenchmarkFanout(b *testing.B) {
	servers := []struct {
		name string
		h    func(*core.Hub) http.Handler
	}{
		{"plain", func(hub *core.Hub) http.Handler { return sse.New(sse.Config{Hub: hub}) }},
		{"plain-nohijack", func(hub *core.Hub) http.Handler { return sse.New(sse.Config{Hub: hub, NoHijack: true}) }},
		{"r3labs", func(hub *core.Hub) http.Handler { return newR3Handler(hub, 5*time.Second, 1024) }},
	}
	for _, s := range servers {
		for _, n := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("%s/clients=%d", s.name, n), func(b *testing.B) {
				fanout(b, s.h, n)
			})
		}
	}
}

// seqKey starts every frame object of an event.
var seqKey = []byte(`{"seq":`)

const (
	fanoutWindow = 16
	// fanoutSampled is how many clients record their latencies.
	fanoutSampled = 50
)

func fanout(b *testing.B, handler func(*core.Hub) http.Handler, n int) {
	hub := core.New(core.Config{ConnTimeout: time.Hour})
	srv := httptest.NewServer(handler(hub))
	defer srv.Close()
	transport := &http.Transport{MaxIdleConnsPerHost: n}
	defer transport.CloseIdleConnections()

	var (
		delivered atomic.Int64
		signal    = make(chan struct{}, 1)
		mu        sync.Mutex
		latencies []time.Duration
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i := range n {
		id := connect(b, hub, fmt.Sprint("u", i), "c")
		client := newClient(sseURL(srv, id))
		client.Connection = &http.Client{Transport: transport}
		sampled := i%max(1, n/fanoutSampled) == 0
		wg.Go(func() {
			_ = client.SubscribeRawWithContext(ctx, func(msg *r3sse.Event) {
				if len(msg.Data) == 0 {
					return
				}
				now := time.Now().UnixNano()
				if !sampled {
					// Count without decoding: the client's CPU is the server's.
					delivered.Add(int64(bytes.Count(msg.Data, seqKey)))
				} else {
					var frames []struct{ Message string }
					if err := json.Unmarshal(msg.Data, &frames); err != nil {
						b.Errorf("bad event %q: %v", msg.Data, err)
						return
					}
					mu.Lock()
					for _, f := range frames {
						sent, _ := strconv.ParseInt(f.Message, 10, 64)
						if sent > 0 {
							latencies = append(latencies, time.Duration(now-sent))
						}
					}
					mu.Unlock()
					delivered.Add(int64(len(frames)))
				}
				select {
				case signal <- struct{}{}:
				default:
				}
			})
		})
	}
	waitDelivered := func(want int64) {
		deadline := time.After(30 * time.Second)
		for delivered.Load() < want {
			select {
			case <-signal:
			case <-deadline:
				b.Fatalf("delivered %d of %d", delivered.Load(), want)
			}
		}
	}
	// Warm up: one message reaches every client, whenever it attaches.
	publish(b, hub, "c", "0")
	waitDelivered(int64(n))
	delivered.Store(0)
	mu.Lock()
	latencies = latencies[:0]
	mu.Unlock()

	start := time.Now()
	published := 0
	for b.Loop() {
		if published >= fanoutWindow {
			waitDelivered(int64(n) * int64(published-fanoutWindow+1))
		}
		publish(b, hub, "c", strconv.FormatInt(time.Now().UnixNano(), 10))
		published++
	}
	waitDelivered(int64(n) * int64(published))
	elapsed := time.Since(start)
	if slow := hub.Stats().SlowDisconnects.Load(); slow > 0 {
		b.Fatalf("%d clients were cut as slow", slow)
	}

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds())
	}
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
