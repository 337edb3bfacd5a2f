package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	serverStartTimeout = 15 * time.Second
	serverStopTimeout  = 5 * time.Second
	logTailLines       = 8
)

// ServerConfig says which servers to measure: ones csbench starts (Bin,
// CentrifugoBin) or one already running (PID and URL).
type ServerConfig struct {
	Bin           string   // channelstream binary to start; "" when PID is set
	CentrifugoBin string   // Centrifugo binary to start
	CPU           string   // taskset -c list for a started server; "" runs it unpinned
	Args          []string // extra flags for a started channelstream (they win over csbench's)
	Secret        string   // API secret (channelstream) or JWT HMAC key (Centrifugo)
	APIKey        string   // Centrifugo HTTP API key
	PID           int      // an external server's pid
	URL           string   // an external server's base URL
}

// server is the process under test.
type server struct {
	sys  *system
	pid  int
	base string
	cmd  *exec.Cmd // nil for an external server
	done chan struct{}
	dir  string // temporary files of a started server, removed by stop
	// cluster holds node B and redis-server when this is node A of a
	// 2-node cluster; they stop with it.
	cluster *clusterProcs

	mu      sync.Mutex
	tail    []string // last warning/error lines of its log
	fdLimit atomic.Int64
	slow    atomic.Int64
	warns   atomic.Int64
}

// openServer starts a server of sys or checks the external one, and waits
// until it is healthy.
func openServer(ctx context.Context, sys *system, cfg ServerConfig) (*server, error) {
	if cfg.PID > 0 {
		if _, err := readMem(cfg.PID); err != nil {
			return nil, fmt.Errorf("--server-pid %d: %w", cfg.PID, err)
		}
		s := &server{sys: sys, pid: cfg.PID, base: strings.TrimRight(cfg.URL, "/")}
		return s, s.waitHealthy(ctx)
	}
	return sys.start(ctx, sys, cfg)
}

// startChannelstream starts cfg.Bin on a free loopback port; the address
// comes from its "listening" log line.
func startChannelstream(ctx context.Context, sys *system, cfg ServerConfig) (*server, error) {
	if _, err := os.Stat(cfg.Bin); err != nil {
		return nil, fmt.Errorf("server binary: %w (build it with 'go build -o %s ./cmd/channelstream' or pass --server-bin)", err, cfg.Bin)
	}
	args := []string{"--host", "127.0.0.1", "--port", "0", "--secret", cfg.Secret,
		"--allow_posting_from", "127.0.0.0/8", "--shutdown_grace", "1s"}
	s, addr, err := startProcess(sys, cfg.CPU, cfg.Bin, append(args, cfg.Args...), "")
	if err != nil {
		return nil, err
	}
	return s, s.ready(ctx, addr)
}

// startCentrifugo starts cfg.CentrifugoBin with a generated configuration
// (see centrifugoConfig) on a free loopback port.
func startCentrifugo(ctx context.Context, sys *system, cfg ServerConfig) (*server, error) {
	bin, err := findCentrifugo(cfg.CentrifugoBin)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "csbench-centrifugo-")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "config.json")
	if err := os.WriteFile(conf, centrifugoConfig(port, cfg.Secret, cfg.APIKey), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s, _, err := startProcess(sys, cfg.CPU, bin, []string{"--config", conf}, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.base = "http://127.0.0.1:" + strconv.Itoa(port)
	if err := s.waitHealthy(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startProcess runs bin with args (under taskset -c cpu when cpu is set),
// follows its log and returns at once; addr yields the address of a
// "listening" log line. dir is removed when the server stops.
func startProcess(sys *system, cpu, bin string, args []string, dir string) (*server, <-chan string, error) {
	name := bin
	if cpu != "" {
		// taskset execs the server, so the pid is the server's.
		args = append([]string{"-c", cpu, bin}, args...)
		name = "taskset"
	}
	cmd := exec.Command(name, args...)
	// The server dies with csbench, even on a crash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout = cmd.Stderr // Centrifugo logs to stdout
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", sys.label, err)
	}
	s := &server{sys: sys, pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{}), dir: dir}
	addr := make(chan string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		s.readLog(stderr, addr)
	}()
	go func() {
		<-logDone
		_ = cmd.Wait()
		close(s.done)
	}()
	return s, addr, nil
}

// ready waits for the listening address, then for the health check.
func (s *server) ready(ctx context.Context, addr <-chan string) error {
	timer := time.NewTimer(serverStartTimeout)
	defer timer.Stop()
	select {
	case a := <-addr:
		s.base = "http://" + a
	case <-s.done:
		return fmt.Errorf("%s exited at start: %s", s.sys.label, s.logTail())
	case <-timer.C:
		s.stop()
		return fmt.Errorf("%s did not log its address within %v: %s", s.sys.label, serverStartTimeout, s.logTail())
	case <-ctx.Done():
		s.stop()
		return ctx.Err()
	}
	if err := s.waitHealthy(ctx); err != nil {
		s.stop()
		return err
	}
	return nil
}

// ignoredLogLines are warnings that say nothing about the run.
var ignoredLogLines = []string{"development build"}

// readLog follows the server's JSON log (channelstream-go and Centrifugo
// both log zerolog JSON lines): it sends the listening address, counts
// warnings, slow-consumer disconnects and file-limit errors, and keeps the
// last warnings for error messages.
func (s *server) readLog(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "too many open files") {
			s.fdLimit.Add(1)
		}
		var rec struct {
			Level   string `json:"level"`
			Message string `json:"message"`
			Addr    string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			rec.Level = "error" // a panic or a net/http log line
		}
		switch {
		case rec.Message == "listening" && rec.Addr != "":
			select {
			case addr <- rec.Addr:
			default:
			}
		case rec.Message == "slow consumer disconnected":
			s.slow.Add(1)
		}
		ignored := false
		for _, ig := range ignoredLogLines {
			ignored = ignored || strings.Contains(rec.Message, ig)
		}
		if !ignored && (rec.Level == "warn" || rec.Level == "error" || rec.Level == "fatal" || rec.Level == "panic") {
			s.warns.Add(1)
			s.mu.Lock()
			s.tail = append(s.tail, line)
			if len(s.tail) > logTailLines {
				s.tail = s.tail[1:]
			}
			s.mu.Unlock()
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// logTail returns the last warnings of the server's log.
func (s *server) logTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tail) == 0 {
		return "(no warnings in its log)"
	}
	return strings.Join(s.tail, "\n")
}

// waitHealthy polls the system's health path for up to serverStartTimeout.
// An external server that answers 404 there (Python channelstream has no
// health check) counts as up.
func (s *server) waitHealthy(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(serverStartTimeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.base + s.sys.health)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || (s.cmd == nil && resp.StatusCode == http.StatusNotFound) {
				return nil
			}
			err = errors.New(resp.Status)
		}
		last = err
		if s.done != nil {
			select {
			case <-s.done:
				return fmt.Errorf("%s exited at start: %s", s.sys.label, s.logTail())
			default:
			}
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s at %s not healthy within %v: %v", s.sys.label, s.base, serverStartTimeout, last)
}

// alive reports whether the process still runs.
func (s *server) alive() bool {
	if s.cluster != nil && !s.cluster.alive() {
		return false
	}
	if s.done != nil {
		select {
		case <-s.done:
			return false
		default:
			return true
		}
	}
	return syscall.Kill(s.pid, 0) == nil
}

// stop ends a server csbench started: SIGTERM, then SIGKILL after
// serverStopTimeout. An external server is left alone.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	if s.cluster != nil {
		defer s.cluster.stop()
	}
	defer func() {
		if s.dir != "" {
			os.RemoveAll(s.dir)
		}
	}()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(serverStopTimeout)
	defer t.Stop()
	select {
	case <-s.done:
		return
	case <-t.C:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}
