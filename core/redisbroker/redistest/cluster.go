package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// clusterSize is how many masters StartCluster starts.
const clusterSize = 3

// Cluster is a Redis Cluster of three masters (no replicas) started by
// StartCluster, each master a Server. The default slot ranges of
// redis-cli --cluster create apply: 0-5460, 5461-10922, 10923-16383.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts three redis-server --cluster-enabled yes on free
// ports of 127.0.0.1 (no persistence; each keeps its cluster config file in
// a directory of its own, so a restarted master comes back empty but still
// in the cluster), joins them with redis-cli --cluster create, waits until
// every master says cluster_state:ok, and stops them when the test ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return startCluster(t)
}

// StartClusterForMain is StartCluster for a TestMain, whose cluster the
// tests of a package share: it returns the cluster and the function that
// stops it and removes its files, or nil and a no-op after printing why it
// could not start. Methods of the cluster's Servers that fail afterwards
// panic (there is no test to fail).
func StartClusterForMain() (c *Cluster, stop func()) {
	r := &mainReporter{}
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(mainFatal); !ok {
				panic(p)
			}
			fmt.Fprintln(os.Stderr, "redistest: start cluster:", p)
			r.cleanup()
			c, stop = nil, func() {}
		}
	}()
	return startCluster(r), r.cleanup
}

func startCluster(t reporter) *Cluster {
	t.Helper()
	bin := lookPath(t, "redis-server")
	cli := lookPath(t, "redis-cli")
	c := &Cluster{}
	for range clusterSize {
		s := startServer(t, bin, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", // in the server's --dir
			"--cluster-node-timeout", "2000",
		}, freeClusterPort)
		c.Servers = append(c.Servers, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.WaitOK()
	return c
}

// Addrs returns the masters' host:port.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		out[i] = s.Addr()
	}
	return out
}

// URL returns the cluster's address list in the form redisbroker's
// Config.URL takes: redis+cluster://host:port,host:port,host:port.
func (c *Cluster) URL() string {
	return "redis+cluster://" + strings.Join(c.Addrs(), ",")
}

// WaitOK waits until every master answers CLUSTER INFO with
// cluster_state:ok (after StartCluster, or after a master restarted).
func (c *Cluster) WaitOK() {
	t := c.Servers[0].t
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for _, s := range c.Servers {
		for {
			info, err := Command(s.Addr(), "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster not ok on %s within %v: %v %s", s.Addr(), startTimeout, err, info)
			}
			time.Sleep(10 * pollEvery)
		}
	}
}

// freeClusterPort returns a free port P of 127.0.0.1 whose cluster bus
// port P+10000 is free too.
func freeClusterPort() (int, error) {
	for range 100 {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		if port+10000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port with a free cluster bus port")
}

// Command sends one command to addr and returns its reply as text: a
// status, an integer or a bulk string (error replies become errors; arrays
// are not supported). For tests that look at a server directly.
func Command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(startTimeout))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case line == "":
		return "", fmt.Errorf("empty reply")
	case line[0] == '-':
		return "", fmt.Errorf("%s: %s", args[0], line[1:])
	case line[0] == '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case line[0] == '*':
		return "", fmt.Errorf("%s: array replies are not supported", args[0])
	}
	return line[1:], nil
}

// mainReporter is a reporter outside any test (StartClusterForMain).
type mainReporter struct {
	mu       sync.Mutex
	cleanups []func()
}

// mainFatal is the panic value of mainReporter.Fatalf.
type mainFatal string

func (*mainReporter) Helper() {}
func (*mainReporter) Fatalf(format string, args ...any) {
	panic(mainFatal(fmt.Sprintf(format, args...)))
}
func (*mainReporter) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "redistest: "+format+"\n", args...)
}
func (*mainReporter) Logf(format string, args ...any) {}

func (r *mainReporter) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *mainReporter) TempDir() string {
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		r.Fatalf("temp dir: %v", err)
	}
	r.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// cleanup runs the cleanups, the last registered first.
func (r *mainReporter) cleanup() {
	r.mu.Lock()
	fs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// SharedCluster is one three-master Redis Cluster that the tests of a
// package share, started on the first Get (about 2 s). The package's
// TestMain calls Stop after m.Run. The zero value is ready to use.
type SharedCluster struct {
	once sync.Once
	c    *Cluster
	stop func()
}

// Get returns the shared cluster, starting it on first use; the test fails
// when it could not start (the first caller's output says why).
func (s *SharedCluster) Get(t testing.TB) *Cluster {
	t.Helper()
	s.once.Do(func() { s.c, s.stop = StartClusterForMain() })
	if s.c == nil {
		t.Fatal("redistest: the shared cluster did not start (see the first test that asked for it)")
	}
	return s.c
}

// Stop stops the cluster if Get started one.
func (s *SharedCluster) Stop() {
	if s.stop != nil {
		s.stop()
	}
}
