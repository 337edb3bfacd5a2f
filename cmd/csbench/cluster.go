package main

import (
	"context"
	"errors"
	"fmt"
)

// The cluster scenario measures what the many-nodes mode costs each
// process (issue 13's bystander measurement): the same publishes against
// one node without Redis, then against three nodes A, B and C sharing a
// redis-server (or, with --redis-cluster, a Redis Cluster of three
// masters) that csbench starts. Every REST call (/connect, /message) goes
// to node A, every subscriber attaches to node B, node C takes nothing.
// Two shapes, each single then cluster, interleaved per repetition:
//
//	personal: every subscriber alone in its personal channel, each publish
//	          to a random one (--rate msgs/s, as many deliveries/s);
//	fanout:   one channel of every subscriber (--cluster-fanout-rate msgs/s).
//
// Each result carries, per process, its CPU over the publishing window and
// its RSS before and after the subscribers connected (see ProcFigure).

// clusterNodes is how many channelstream nodes a cluster run starts.
const clusterNodes = 3

// clusterShape is one publishing shape of the cluster scenario.
type clusterShape struct {
	name     string // in tables: personal or fanout
	scenario string // the scenario code that runs it
	rate     float64
}

// clusterShapes are the shapes a cluster run measures: personal, then
// fanout unless cfg.ClusterFanoutRate is 0.
func clusterShapes(cfg Config) []clusterShape {
	shapes := []clusterShape{{"personal", "channels", cfg.Rates[0]}}
	if cfg.ClusterFanoutRate > 0 {
		shapes = append(shapes, clusterShape{"fanout", "fanout", cfg.ClusterFanoutRate})
	}
	return shapes
}

// runCluster runs every shape against one node and against three nodes
// through Redis, cfg.Repeat times, interleaved, each run against fresh
// servers; the results are marked Scenario "cluster" with their shape and
// node count.
func runCluster(ctx context.Context, cfg Config) ([]Result, error) {
	var out []Result
	pinning := ownCPUs()
	for rep := 1; rep <= cfg.Repeat; rep++ {
		for _, sh := range clusterShapes(cfg) {
			for _, tr := range cfg.Transports {
				for _, nodes := range []int{1, clusterNodes} {
					c := cfg
					c.Scenario, c.Rates, c.Nodes, c.Personal = sh.scenario, []float64{sh.rate}, nodes, true
					cfg.logf("cluster %s, %d node(s):", sh.name, nodes)
					rs, err := runClean(ctx, c, systemChannelstream, tr, rep)
					for i := range rs {
						rs[i].Scenario, rs[i].Shape, rs[i].Nodes = "cluster", sh.name, nodes
						rs[i].ServerCPUs, rs[i].ClientCPUs = cfg.Server.CPU, pinning
						if nodes > 1 && cfg.RedisCluster {
							rs[i].RedisMasters = redisClusterMasters
						}
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

// clusterProcs are the processes of a cluster beside node A (the server
// runOnce measures): nodes B (where the subscribers attach) and C (idle),
// and the redis-server(s).
type clusterProcs struct {
	nodes []*server // B, C
	redis []*redisProc
}

// openCluster starts the redis-server(s) and three channelstream nodes
// sharing them, all under taskset -c cfg.CPU, and returns node A, which
// carries the others (stopped with it).
func openCluster(ctx context.Context, sys *system, cfg ServerConfig, redisCluster bool) (*server, error) {
	if sys != systemChannelstream || cfg.PID > 0 {
		return nil, errors.New("the cluster scenario starts channelstream-go nodes only (no --server-pid)")
	}
	c := &clusterProcs{}
	redis, url, err := startRedisServers(ctx, cfg.CPU, redisCluster)
	if err != nil {
		return nil, err
	}
	c.redis = redis
	nodeCfg := cfg
	nodeCfg.Args = append([]string{"--redis_url", url}, cfg.Args...)
	a, err := startChannelstream(ctx, sys, nodeCfg)
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("node A: %w", err)
	}
	a.cluster = c
	for i := 1; i < clusterNodes; i++ {
		n, err := startChannelstream(ctx, sys, nodeCfg)
		if err != nil {
			a.stop()
			return nil, fmt.Errorf("node %c: %w", 'A'+i, err)
		}
		c.nodes = append(c.nodes, n)
	}
	for _, n := range append([]*server{a}, c.nodes...) {
		if err := n.waitPath(ctx, "/readyz"); err != nil {
			a.stop()
			return nil, err
		}
	}
	return a, nil
}

// stop ends nodes B and C, then the redis-server(s).
func (c *clusterProcs) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
	for _, r := range c.redis {
		r.stop()
	}
}

// alive reports whether nodes B and C and the redis-server(s) still run.
func (c *clusterProcs) alive() bool {
	for _, r := range c.redis {
		if !r.alive() {
			return false
		}
	}
	for _, n := range c.nodes {
		if !n.alive() {
			return false
		}
	}
	return true
}

// pids returns the pids of nodes B and C, then of the redis-server(s).
func (c *clusterProcs) pids() []int {
	var p []int
	for _, n := range c.nodes {
		p = append(p, n.pid)
	}
	for _, r := range c.redis {
		if r.cmd != nil && r.cmd.Process != nil {
			p = append(p, r.cmd.Process.Pid)
		}
	}
	return p
}

// procNames names the processes of pids, in order: "node" for a single
// server; A, B, C, then "redis" (or "redis 1" … for a Redis Cluster).
func (s *server) procNames() []string {
	if s.cluster == nil {
		return []string{"node"}
	}
	names := []string{"A"}
	for i := range s.cluster.nodes {
		names = append(names, string(rune('B'+i)))
	}
	for i := range s.cluster.redis {
		if len(s.cluster.redis) == 1 {
			names = append(names, "redis")
		} else {
			names = append(names, "redis "+itoa(i+1))
		}
	}
	return names
}

// pids returns the server's pid and, for a cluster, those of nodes B and C
// and the redis-server(s): the server-side processes whose CPU is measured.
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
	if s.cluster != nil && len(s.cluster.nodes) > 0 {
		return s.cluster.nodes[0].base
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
	var lines []string
	for _, p := range clusterPairs(all) {
		if p.one == nil || p.many == nil {
			continue
		}
		d99 := p.many.P99ms - p.one.P99ms
		verdict := "within"
		if d99 > clusterAddedP99Target {
			verdict = "over"
		}
		lines = append(lines, fmt.Sprintf("%s %s: %d nodes through Redis add p50 %+.2f ms, p99 %+.2f ms, p99.9 %+.2f ms (%s the +%g ms p99 target)",
			p.many.Shape, p.many.Transport, p.many.Nodes, p.many.P50ms-p.one.P50ms, d99, p.many.P999ms-p.one.P999ms, verdict, float64(clusterAddedP99Target)))
	}
	return lines
}

// clusterPair is the single-node and the many-node result of one shape
// and transport (either may be nil).
type clusterPair struct{ one, many *Result }

// clusterPairs pairs the rows of clusterRows(all) by shape and transport,
// in order of first appearance.
func clusterPairs(all []Result) []*clusterPair {
	var out []*clusterPair
	by := map[string]*clusterPair{}
	for _, r := range clusterRows(all) {
		k := r.Shape + "\x00" + r.Transport
		if by[k] == nil {
			by[k] = &clusterPair{}
			out = append(out, by[k])
		}
		if r.Nodes > 1 {
			by[k].many = r
		} else {
			by[k].one = r
		}
	}
	return out
}

// clusterAddedP99Target is the p99 the cluster may add, in milliseconds.
const clusterAddedP99Target = 5
