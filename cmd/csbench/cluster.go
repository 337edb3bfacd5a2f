package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The cluster scenario measures what Redis adds to a delivery: the same
// publishes against one node, then against two nodes sharing a redis-server
// that csbench starts, with every REST call (/connect, /message) sent to
// node A and every subscriber attached to node B, so each delivery crosses
// Redis. Two shapes, each single then cluster, interleaved per repetition:
//
//	personal: every subscriber alone in its personal channel, each publish
//	          to a random one (--rate msgs/s, as many deliveries/s);
//	fanout:   one channel of every subscriber (--cluster-fanout-rate msgs/s).

// clusterShape is one publishing shape of the cluster scenario.
type clusterShape struct {
	name     string // in tables: personal or fanout
	scenario string // the scenario code that runs it
	rate     float64
}

func clusterShapes(cfg Config) []clusterShape {
	return []clusterShape{
		{"personal", "channels", cfg.Rates[0]},
		{"fanout", "fanout", cfg.ClusterFanoutRate},
	}
}

// runCluster runs every shape against one node and against two nodes
// through Redis, cfg.Repeat times, interleaved, each run against fresh
// servers; the results are marked Scenario "cluster" with their shape and
// node count.
func runCluster(ctx context.Context, cfg Config) ([]Result, error) {
	var out []Result
	for rep := 1; rep <= cfg.Repeat; rep++ {
		for _, sh := range clusterShapes(cfg) {
			for _, tr := range cfg.Transports {
				for _, nodes := range []int{1, 2} {
					c := cfg
					c.Scenario, c.Rates, c.Nodes, c.Personal = sh.scenario, []float64{sh.rate}, nodes, true
					cfg.logf("cluster %s, %d node(s):", sh.name, nodes)
					rs, err := runClean(ctx, c, systemChannelstream, tr, rep)
					for i := range rs {
						rs[i].Scenario, rs[i].Shape, rs[i].Nodes = "cluster", sh.name, nodes
					}
					out = append(out, rs...)
					if err != nil {
						return out, fmt.Errorf("cluster %s on %d node(s) over %s, run %d: %w", sh.name, nodes, tr, rep, err)
					}
				}
			}
		}
	}
	return out, nil
}

// clusterProcs are the processes of a 2-node cluster beside node A (the
// server runOnce measures): node B, where the subscribers attach, and
// redis-server.
type clusterProcs struct {
	nodeB *server
	redis *exec.Cmd
	done  chan struct{} // closed when redis-server has exited
}

// openCluster starts redis-server on a free loopback port and two
// channelstream nodes sharing it, all under taskset -c cfg.CPU, and returns
// node A, which carries the other two (stopped with it).
func openCluster(ctx context.Context, sys *system, cfg ServerConfig) (*server, error) {
	if sys != systemChannelstream || cfg.PID > 0 {
		return nil, errors.New("the cluster scenario starts channelstream-go nodes only (no --server-pid)")
	}
	c := &clusterProcs{}
	url, err := c.startRedis(ctx, cfg.CPU)
	if err != nil {
		return nil, err
	}
	nodeCfg := cfg
	nodeCfg.Args = append([]string{"--redis_url", url}, cfg.Args...)
	a, err := startChannelstream(ctx, sys, nodeCfg)
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("node A: %w", err)
	}
	a.cluster = c
	if c.nodeB, err = startChannelstream(ctx, sys, nodeCfg); err != nil {
		a.stop()
		return nil, fmt.Errorf("node B: %w", err)
	}
	for _, n := range []*server{a, c.nodeB} {
		if err := n.waitPath(ctx, "/readyz"); err != nil {
			a.stop()
			return nil, err
		}
	}
	return a, nil
}

// startRedis starts redis-server without persistence and waits until it
// answers PING; it returns its URL.
func (c *clusterProcs) startRedis(ctx context.Context, cpu string) (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("the cluster scenario needs redis-server on $PATH (Debian: apt-get install redis-server): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	args := []string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	if cpu != "" {
		args = append([]string{"taskset", "-c", cpu}, args...)
	}
	c.redis = exec.Command(args[0], args[1:]...)
	c.redis.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var logBuf strings.Builder
	c.redis.Stdout, c.redis.Stderr = &logBuf, &logBuf
	if err := c.redis.Start(); err != nil {
		return "", fmt.Errorf("start redis-server: %w", err)
	}
	c.done = make(chan struct{})
	go func() { _ = c.redis.Wait(); close(c.done) }()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if !waitFor(ctx, serverStartTimeout, 20*time.Millisecond, func() bool { return pingRedis(addr) }) {
		c.stop()
		return "", fmt.Errorf("redis-server on %s did not answer PING within %v", addr, serverStartTimeout)
	}
	return "redis://" + addr + "/0", nil
}

// pingRedis reports whether the Redis at addr answers PING.
func pingRedis(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// stop ends node B, then redis-server.
func (c *clusterProcs) stop() {
	if c.nodeB != nil {
		c.nodeB.stop()
	}
	if c.redis == nil || c.redis.Process == nil {
		return
	}
	_ = c.redis.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(serverStopTimeout):
		_ = c.redis.Process.Kill()
		<-c.done
	}
}

// alive reports whether node B and redis-server still run.
func (c *clusterProcs) alive() bool {
	select {
	case <-c.done:
		return false
	default:
	}
	return c.nodeB == nil || c.nodeB.alive()
}

// pids returns node B's and redis-server's pids.
func (c *clusterProcs) pids() []int {
	var p []int
	if c.nodeB != nil {
		p = append(p, c.nodeB.pid)
	}
	if c.redis != nil && c.redis.Process != nil {
		p = append(p, c.redis.Process.Pid)
	}
	return p
}

// pids returns the server's pid and, for a cluster, those of node B and
// redis-server: the server-side processes whose CPU is measured.
func (s *server) pids() []int {
	p := []int{s.pid}
	if s.cluster != nil {
		p = append(p, s.cluster.pids()...)
	}
	return p
}

// attachBase is where subscribers attach their transport: node B of a
// cluster, "" (the REST address) otherwise.
func (s *server) attachBase() string {
	if s.cluster != nil && s.cluster.nodeB != nil {
		return s.cluster.nodeB.base
	}
	return ""
}

// waitPath polls path until it answers 200, for up to serverStartTimeout.
func (s *server) waitPath(ctx context.Context, path string) error {
	sys := *s.sys
	sys.health = path
	probe := &server{sys: &sys, pid: s.pid, base: s.base, cmd: s.cmd, done: s.done}
	return probe.waitHealthy(ctx)
}

// addedLatency names, per shape and transport, what the cluster adds to
// the single node's latency (medians when there are repetitions).
func addedLatency(all []Result) []string {
	hasMedian := slices.ContainsFunc(all, func(r Result) bool { return r.Run == 0 })
	type pair struct{ one, two *Result }
	var order []string
	by := map[string]*pair{}
	for i := range all {
		r := &all[i]
		if r.Scenario != "cluster" || (r.Run == 0) != hasMedian || r.Error != "" {
			continue
		}
		k := r.Shape + " " + r.Transport
		if by[k] == nil {
			order = append(order, k)
			by[k] = &pair{}
		}
		if r.Nodes == 2 {
			by[k].two = r
		} else {
			by[k].one = r
		}
	}
	var lines []string
	for _, k := range order {
		p := by[k]
		if p.one == nil || p.two == nil {
			continue
		}
		d99 := p.two.P99ms - p.one.P99ms
		verdict := "within"
		if d99 > clusterAddedP99Target {
			verdict = "over"
		}
		lines = append(lines, fmt.Sprintf("%s: 2 nodes through Redis add p50 %+.2f ms, p99 %+.2f ms, p99.9 %+.2f ms (%s the +%g ms p99 target)",
			k, p.two.P50ms-p.one.P50ms, d99, p.two.P999ms-p.one.P999ms, verdict, float64(clusterAddedP99Target)))
	}
	return lines
}

// clusterAddedP99Target is the p99 the cluster may add, in milliseconds.
const clusterAddedP99Target = 5
