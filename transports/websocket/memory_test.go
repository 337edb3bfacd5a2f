package websocket

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/core"
)

// The idle-memory measurement runs the server in a child process (this test
// binary re-executed with memChildEnv set), so that its figures hold the
// server's memory only: the clients live in the parent. The child measures
// itself three times: empty (m0), with N hub connections (m1), and with a
// socket attached to each after two heartbeat rounds (m2). (m2-m1)/N is the
// transport's share, (m2-m0)/N the whole server-side cost of a connection.
const (
	memChildEnv     = "CSWS_MEMORY_CHILD"
	memConns        = 2000
	memHeartbeat    = 500 * time.Millisecond
	memTargetPerRSS = 16 << 10 // bytes of RSS per idle attached socket
)

func TestMain(m *testing.M) {
	if n := os.Getenv(memChildEnv); n != "" {
		count, _ := strconv.Atoi(n)
		if err := memoryChild(count); err != nil {
			fmt.Fprintln(os.Stderr, "memory child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// memSample is one self-measurement of the child.
type memSample struct {
	RSS, HeapInuse, StackInuse int64
	Goroutines                 int64
}

func (s memSample) String() string {
	return fmt.Sprintf("%d %d %d %d", s.RSS, s.HeapInuse, s.StackInuse, s.Goroutines)
}

func parseSample(s string) (memSample, error) {
	var m memSample
	_, err := fmt.Sscan(s, &m.RSS, &m.HeapInuse, &m.StackInuse, &m.Goroutines)
	return m, err
}

func sampleMemory() memSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{RSS: vmRSS(), HeapInuse: int64(ms.HeapInuse), StackInuse: int64(ms.StackInuse), Goroutines: int64(runtime.NumGoroutine())}
}

// vmRSS reads the process's resident set size in bytes.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

// memoryChild serves n connections and reports its memory on stdout:
// "ADDR a", "CONN id" ×n, "M0 …", "M1 …"; after "ATTACHED" on stdin, "M2 …".
func memoryChild(n int) error {
	if os.Getenv("CSWS_HEAPPROF") != "" {
		runtime.MemProfileRate = 1
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	hub := core.New(core.Config{})
	go func() { _ = hub.Run(context.Background()) }()
	h := New(Config{Hub: hub, HeartbeatInterval: memHeartbeat})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", h)
	go func() { _ = http.Serve(ln, mux) }()

	m0 := sampleMemory()
	ids := make([]string, n)
	for i := range ids {
		res, err := hub.Connect(context.Background(), core.ConnectParams{Username: "u" + strconv.Itoa(i), Channels: []string{"c"}})
		if err != nil {
			return err
		}
		ids[i] = res.ConnID
	}
	m1 := sampleMemory()
	fmt.Fprintln(out, "ADDR", ln.Addr())
	for _, id := range ids {
		fmt.Fprintln(out, "CONN", id)
	}
	fmt.Fprintln(out, "M0", m0)
	fmt.Fprintln(out, "M1", m1)
	out.Flush()

	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "ATTACHED" {
		return fmt.Errorf("parent said %q", in.Text())
	}
	deadline := time.Now().Add(30 * time.Second)
	for h.Open() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d sockets attached", h.Open(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Steady idle state: every socket has written heartbeats and pings.
	time.Sleep(3 * memHeartbeat)
	fmt.Fprintln(out, "M2", sampleMemory(), h.Open())
	// CSWS_HEAPPROF=file writes an exact heap profile (and file.goroutine)
	// of the measured state, to see where the bytes go.
	if f := os.Getenv("CSWS_HEAPPROF"); f != "" {
		w, _ := os.Create(f)
		_ = pprof.Lookup("heap").WriteTo(w, 0)
		w.Close()
		w, _ = os.Create(f + ".goroutine")
		_ = pprof.Lookup("goroutine").WriteTo(w, 1)
		w.Close()
	}
	out.Flush()
	in.Scan() // wait for the parent to finish
	return nil
}

// idleMemory is the result of one measurement.
type idleMemory struct {
	m0, m1, m2 memSample
	n          int
}

func (r idleMemory) perConn(a, b int64) float64 { return float64(b-a) / float64(r.n) }

// TransportRSS is the RSS per attached socket beyond the hub connection.
func (r idleMemory) TransportRSS() float64 { return r.perConn(r.m1.RSS, r.m2.RSS) }

// TotalRSS is the RSS per connection including the hub's connection.
func (r idleMemory) TotalRSS() float64 { return r.perConn(r.m0.RSS, r.m2.RSS) }

func (r idleMemory) report() string {
	return fmt.Sprintf("%d idle sockets, server process only: RSS/socket %.0f B (transport) %.0f B (with the hub connection); "+
		"heap/socket %.0f B (transport) %.0f B (total); stack/socket %.0f B; goroutines/socket %.2f; RSS m0 %d m1 %d m2 %d",
		r.n, r.TransportRSS(), r.TotalRSS(),
		r.perConn(r.m1.HeapInuse, r.m2.HeapInuse), r.perConn(r.m0.HeapInuse, r.m2.HeapInuse),
		r.perConn(r.m1.StackInuse, r.m2.StackInuse), r.perConn(r.m1.Goroutines, r.m2.Goroutines),
		r.m0.RSS, r.m1.RSS, r.m2.RSS)
}

// measureIdleMemory runs the child with n connections and attaches a client
// socket to each (the clients answer pings, so the sockets stay attached).
func measureIdleMemory(tb testing.TB, n int) idleMemory {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), memChildEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	var r idleMemory
	var addr string
	var ids []string
	readSample := func(prefix string) memSample {
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), prefix+" ") {
			tb.Fatalf("child said %q, want %s", lines.Text(), prefix)
		}
		s, err := parseSample(strings.TrimPrefix(lines.Text(), prefix+" "))
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if f[0] == "ADDR" {
			addr = f[1]
			continue
		}
		ids = append(ids, f[1])
		if len(ids) == n {
			break
		}
	}
	r.m0, r.m1, r.n = readSample("M0"), readSample("M1"), n

	d := &gws.Dialer{ReadBufferSize: 256, WriteBufferSize: 256, HandshakeTimeout: 10 * time.Second}
	clients := make([]*gws.Conn, 0, n)
	var wg sync.WaitGroup
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
		wg.Wait()
	}()
	for _, id := range ids {
		c, _, err := d.Dial("ws://"+addr+"/ws?conn_id="+id, nil)
		if err != nil {
			tb.Fatalf("dial %d: %v", len(clients), err)
		}
		clients = append(clients, c)
		wg.Add(1)
		go func() { // read, and so answer pings, until closed
			defer wg.Done()
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		}()
	}
	_, _ = fmt.Fprintln(stdin, "ATTACHED")
	r.m2 = readSample("M2")
	return r
}

var (
	idleOnce   sync.Once
	idleResult idleMemory
)

func TestIdleMemoryPerSocket(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("memory is measured without -race and -short")
	}
	r := measureIdleMemory(t, memConns)
	t.Log(r.report())
	if r.TotalRSS() > memTargetPerRSS {
		t.Fatalf("%.0f B of RSS per idle attached socket, target %d", r.TotalRSS(), memTargetPerRSS)
	}
}

func BenchmarkIdleMemory(b *testing.B) {
	if raceEnabled {
		b.Skip("memory is measured without -race")
	}
	idleOnce.Do(func() { idleResult = measureIdleMemory(b, memConns) })
	r := idleResult
	for range b.N {
	}
	b.ReportMetric(r.TransportRSS(), "rss-B/socket")
	b.ReportMetric(r.TotalRSS(), "rss-total-B/socket")
	b.ReportMetric(r.perConn(r.m1.HeapInuse, r.m2.HeapInuse), "heap-B/socket")
	b.ReportMetric(r.perConn(r.m1.StackInuse, r.m2.StackInuse), "stack-B/socket")
	b.Log(r.report())
}
