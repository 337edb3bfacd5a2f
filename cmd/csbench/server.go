package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
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

// ServerConfig says which server to measure: one csbench starts (Bin) or one
// already running (PID and URL).
type ServerConfig struct {
	Bin    string   // channelstream binary to start; "" when PID is set
	CPU    string   // taskset -c list for a started server; "" runs it unpinned
	Args   []string // extra flags for a started server (they win over csbench's)
	Secret string   // API secret: given to a started server, used to sign
	PID    int      // an external server's pid
	URL    string   // an external server's base URL
}

// server is the process under test.
type server struct {
	pid  int
	base string
	cmd  *exec.Cmd // nil for an external server
	done chan struct{}

	mu      sync.Mutex
	tail    []string // last warning/error lines of its log
	fdLimit atomic.Int64
	slow    atomic.Int64
	warns   atomic.Int64
}

// openServer starts the server or checks the external one, and waits until
// /healthz answers.
func openServer(ctx context.Context, cfg ServerConfig) (*server, error) {
	if cfg.PID > 0 {
		if _, err := readMem(cfg.PID); err != nil {
			return nil, fmt.Errorf("--server-pid %d: %w", cfg.PID, err)
		}
		s := &server{pid: cfg.PID, base: strings.TrimRight(cfg.URL, "/")}
		return s, s.waitHealthy(ctx)
	}
	return startServer(ctx, cfg)
}

func startServer(ctx context.Context, cfg ServerConfig) (*server, error) {
	if _, err := os.Stat(cfg.Bin); err != nil {
		return nil, fmt.Errorf("server binary: %w (build it with 'go build -o %s ./cmd/channelstream' or pass --server-bin)", err, cfg.Bin)
	}
	args := []string{"--host", "127.0.0.1", "--port", "0", "--secret", cfg.Secret,
		"--allow_posting_from", "127.0.0.0/8", "--shutdown_grace", "1s"}
	args = append(args, cfg.Args...)
	name := cfg.Bin
	if cfg.CPU != "" {
		// taskset execs the server, so the pid is the server's.
		args = append([]string{"-c", cfg.CPU, cfg.Bin}, args...)
		name = "taskset"
	}
	cmd := exec.Command(name, args...)
	// The server dies with csbench, even on a crash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &server{pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
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
	timer := time.NewTimer(serverStartTimeout)
	defer timer.Stop()
	select {
	case a := <-addr:
		s.base = "http://" + a
	case <-s.done:
		return nil, fmt.Errorf("server exited at start: %s", s.logTail())
	case <-timer.C:
		s.stop()
		return nil, fmt.Errorf("server did not log its address within %v: %s", serverStartTimeout, s.logTail())
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	if err := s.waitHealthy(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// readLog follows the server's JSON log: it sends the listening address,
// counts warnings, slow-consumer disconnects and file-limit errors, and
// keeps the last warnings for error messages.
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
		if rec.Level == "warn" || rec.Level == "error" || rec.Level == "fatal" || rec.Level == "panic" {
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

// waitHealthy polls /healthz for up to serverStartTimeout.
func (s *server) waitHealthy(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(serverStartTimeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.base + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("server at %s not healthy within %v: %v", s.base, serverStartTimeout, last)
}

// alive reports whether the process still runs.
func (s *server) alive() bool {
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
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return
	case <-time.After(serverStopTimeout):
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}
