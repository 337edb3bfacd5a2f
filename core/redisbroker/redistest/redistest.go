// Package redistest starts throwaway redis-server processes for tests: each
// Server is Debian's redis-server on a free port of 127.0.0.1, with no
// persistence (it always starts empty), stopped when the test ends. It never
// touches a Redis already running on the machine (6379).
//
// Every method of Server is safe for concurrent use, and must be called
// while the test that started it runs.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// startTimeout bounds how long a started server may take to answer PING.
	startTimeout = 10 * time.Second
	// stopTimeout bounds how long a killed server may take to exit and free
	// its port.
	stopTimeout = 10 * time.Second
	// pollEvery is how often startup and shutdown are checked.
	pollEvery = 5 * time.Millisecond
	// dialTimeout bounds one probe of the port.
	dialTimeout = 200 * time.Millisecond
	// maxOutput bounds the server output kept for failure messages.
	maxOutput = 64 << 10
	// startTries is how many free ports Start tries when another process
	// takes the chosen one first.
	startTries = 5
)

// reporter is what a Server needs of a test: testing.TB has it, and so
// has mainReporter (StartClusterForMain).
type reporter interface {
	Helper()
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Server is one redis-server process started by Start.
type Server struct {
	t     reporter
	bin   string
	dir   string
	port  int
	extra []string // more redis-server arguments (StartCluster's)

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of redis-server.
type process struct {
	cmd  *exec.Cmd
	out  *limitedBuffer
	done chan struct{} // closed when the process has exited
	err  error         // the exit status, set before done closes
}

// Start starts a redis-server on a free port of 127.0.0.1 with no
// persistence, waits until it answers PING, and stops it when the test ends
// (t.Cleanup). It fails the test when redis-server is not installed or does
// not start.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := lookPath(t, "redis-server")
	return startServer(t, bin, nil, freePort)
}

// startServer starts a Server with the extra arguments on a port pick
// chooses.
func startServer(t reporter, bin string, extra []string, pick func() (int, error)) *Server {
	t.Helper()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), extra: extra}
	t.Cleanup(s.Stop)
	for try := 1; ; try++ {
		port, err := pick()
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		if err = s.start(port); err == nil {
			return s
		}
		if try == startTries {
			t.Fatalf("redistest: start redis-server: %v", err)
		}
		t.Logf("redistest: start redis-server on port %d: %v; trying another port", port, err)
	}
}

// lookPath finds a Redis program or fails the test.
func lookPath(t reporter, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("redistest: %s is not on PATH (%v); `make test` installs it "+
			"(.ci/deps.sh installs Debian's redis-server package)", name, err)
	}
	return bin
}

// Addr returns the server's host:port.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns the server's URL for database 0, redis://127.0.0.1:port/0.
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// Stop kills the server (SIGKILL, so nothing is saved or said to clients)
// and waits until it has exited and its port is closed. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stopLocked(); err != nil {
		s.t.Errorf("redistest: stop redis-server on %s: %v", s.Addr(), err)
	}
}

// Restart stops the server if it runs, then starts a new, empty one on the
// same port and waits until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.restart(); err != nil {
		s.t.Fatalf("redistest: restart redis-server on %s: %v", s.Addr(), err)
	}
}

func (s *Server) restart() error {
	s.mu.Lock()
	err := s.stopLocked()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.start(s.port)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * pollEvery) // the port may still be held for a moment
	}
}

// Pause freezes the server (SIGSTOP): it keeps its connections and data but
// answers nothing, like a host that stopped responding, until Resume or
// Stop.
func (s *Server) Pause() {
	s.t.Helper()
	s.signal(syscall.SIGSTOP)
}

// Resume lets a paused server run again (SIGCONT).
func (s *Server) Resume() {
	s.t.Helper()
	s.signal(syscall.SIGCONT)
}

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.t.Fatalf("redistest: %v to redis-server on %s: not running", sig, s.Addr())
	}
	if err := s.proc.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v to redis-server on %s: %v", sig, s.Addr(), err)
	}
}

// start runs redis-server on port and waits until it answers PING.
func (s *Server) start(port int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("already running")
	}
	args := append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--protected-mode", "no",
		"--daemonize", "no",
		"--dir", s.dir,
	}, s.extra...)
	cmd := exec.Command(s.bin, args...)
	p := &process{cmd: cmd, out: &limitedBuffer{max: maxOutput}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.port = port
	addr := s.Addr()
	deadline := time.Now().Add(startTimeout)
	for {
		if ping(addr) == nil {
			s.proc = p
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("redis-server exited (%v): %s", p.err, p.out.String())
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("no answer to PING within %v: %s", startTimeout, p.out.String())
		}
	}
}

// stopLocked kills the process and waits for it to exit and free its port.
func (s *Server) stopLocked() error {
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	_ = p.cmd.Process.Kill() // SIGKILL ends a stopped (paused) process too
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		return fmt.Errorf("still running %v after SIGKILL", stopTimeout)
	}
	deadline := time.Now().Add(stopTimeout)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), dialTimeout)
		if err != nil {
			return nil
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("port still open %v after the process exited", stopTimeout)
		}
		time.Sleep(pollEvery)
	}
}

// ping sends PING to addr and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(dialTimeout))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago, never
// Redis's default 6379.
func freePort() (int, error) {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if port != 6379 {
			return port, nil
		}
	}
}

// limitedBuffer keeps the first max bytes written to it; it is safe for
// concurrent use.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
