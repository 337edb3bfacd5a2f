package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// redisClusterMasters is how many masters --redis-cluster starts.
const redisClusterMasters = 3

// redisProc is one redis-server csbench started.
type redisProc struct {
	cmd  *exec.Cmd
	addr string        // 127.0.0.1:port
	done chan struct{} // closed when it has exited
	dir  string        // its working directory (cluster config), removed by stop
}

// startRedisServers starts what the nodes share: one redis-server, or with
// cluster a Redis Cluster of three masters (no replicas, default slot
// ranges of redis-cli --cluster create). Every server runs without
// persistence under taskset -c cpu. It returns the servers and the
// nodes' --redis_url (redis://… or redis+cluster://h1:p1,h2:p2,h3:p3).
// On error, whatever was started is stopped.
func startRedisServers(ctx context.Context, cpu string, cluster bool) ([]*redisProc, string, error) {
	n := 1
	if cluster {
		n = redisClusterMasters
	}
	var rs []*redisProc
	stopAll := func() {
		for _, r := range rs {
			r.stop()
		}
	}
	for range n {
		r, err := startRedis(ctx, cpu, cluster)
		if err != nil {
			stopAll()
			return nil, "", err
		}
		rs = append(rs, r)
	}
	if !cluster {
		return rs, "redis://" + rs[0].addr + "/0", nil
	}
	addrs := make([]string, len(rs))
	for i, r := range rs {
		addrs[i] = r.addr
	}
	if err := createRedisCluster(ctx, addrs); err != nil {
		stopAll()
		return nil, "", err
	}
	return rs, "redis+cluster://" + strings.Join(addrs, ","), nil
}

// startRedis starts one redis-server without persistence (with
// clusterMode, cluster-enabled with its nodes.conf in a directory of its
// own) and waits until it answers PING.
func startRedis(ctx context.Context, cpu string, clusterMode bool) (*redisProc, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("the cluster scenario needs redis-server on $PATH (Debian: apt-get install redis-server): %w", err)
	}
	port, err := freePort()
	if clusterMode {
		port, err = freeClusterPort()
	}
	if err != nil {
		return nil, err
	}
	r := &redisProc{addr: "127.0.0.1:" + strconv.Itoa(port)}
	args := []string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	if clusterMode {
		if r.dir, err = os.MkdirTemp("", "csbench-redis-"); err != nil {
			return nil, err
		}
		args = append(args, "--dir", r.dir, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	}
	if cpu != "" {
		args = append([]string{"taskset", "-c", cpu}, args...)
	}
	r.cmd = exec.Command(args[0], args[1:]...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var logBuf strings.Builder
	r.cmd.Stdout, r.cmd.Stderr = &logBuf, &logBuf
	if err := r.cmd.Start(); err != nil {
		os.RemoveAll(r.dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r.done = make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	if !waitFor(ctx, serverStartTimeout, 20*time.Millisecond, func() bool { return pingRedis(r.addr) }) {
		r.stop()
		return nil, fmt.Errorf("redis-server on %s did not answer PING within %v", r.addr, serverStartTimeout)
	}
	return r, nil
}

// freeClusterPort returns a free loopback port P whose cluster bus port
// P+10000 is free too.
func freeClusterPort() (int, error) {
	for range 100 {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		if port+10000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		_ = l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port with a free cluster bus port (+10000)")
}

// createRedisCluster joins the masters at addrs with redis-cli --cluster
// create and waits until each says cluster_state:ok.
func createRedisCluster(ctx context.Context, addrs []string) error {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return fmt.Errorf("--redis-cluster needs redis-cli on $PATH: %w", err)
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("redis-cli %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	for _, a := range addrs {
		ok := waitFor(ctx, serverStartTimeout, 50*time.Millisecond, func() bool {
			info, err := redisCommand(a, "CLUSTER INFO")
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
		if !ok {
			return fmt.Errorf("redis cluster master %s not cluster_state:ok within %v", a, serverStartTimeout)
		}
	}
	return nil
}

// pingRedis reports whether the Redis at addr answers PING.
func pingRedis(addr string) bool {
	reply, err := redisCommand(addr, "PING")
	return err == nil && reply == "PONG"
}

// redisCommand sends one inline command to addr and returns its reply: a
// status line without its "+", or the text of a bulk string.
func redisCommand(addr, command string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(command + "\r\n")); err != nil {
		return "", err
	}
	return readRedisReply(bufio.NewReader(conn))
}

// readRedisReply reads a status, error, integer or bulk-string reply.
func readRedisReply(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty redis reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 || n > 1<<20 {
			return "", fmt.Errorf("malformed redis bulk length %q", line)
		}
		if n < 0 {
			return "", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
	return "", fmt.Errorf("unexpected redis reply %q", line)
}

// stop ends the server: SIGTERM, then SIGKILL after serverStopTimeout.
func (r *redisProc) stop() {
	defer func() {
		if r.dir != "" {
			os.RemoveAll(r.dir)
		}
	}()
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(serverStopTimeout):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// alive reports whether the server still runs.
func (r *redisProc) alive() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}
