package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// quietPct is the machine-wide CPU use (percent of one CPU) under which
// --quiet-wait considers the machine idle.
const quietPct = 10

// Config is one csbench invocation (or one job of a suite).
type Config struct {
	Scenario   string // idle, fanout, channels, churn, slow or cluster
	Systems    []*system
	Transports []string
	Clients    int
	Duration   time.Duration // idle: the measured hold; fanout, channels, slow: each step; churn: the churning
	Rates      []float64     // fanout, channels: msgs/s of each step, in order; slow: the one rate
	Warmup     time.Duration // publishes before each step's measurement
	Drain      time.Duration // longest wait for late deliveries after a step
	Pause      time.Duration // quiet time between steps
	Settle     time.Duration // idle: wait between connecting and measuring; cluster: before reading RSS after connecting
	// IdleDuration, when set, is the idle measurement's hold instead of
	// Duration (the suite's: whole heartbeat intervals, see suiteIdleDuration).
	IdleDuration time.Duration
	// IdleFirst makes a fanout run measure the idle cost of its
	// subscribers (like the idle scenario) before publishing.
	IdleFirst bool
	// SweepStop ends a fanout sweep after a step whose p99 exceeded
	// 4 × P99Limit: higher rates would only take longer to drain.
	SweepStop bool
	Repeat    int
	// Concurrency is how many subscribers connect at once.
	Concurrency    int
	ConnectTimeout time.Duration
	PubInflight    int // most publishes in flight
	Channel        string
	PayloadBytes   int // padding added to every published message
	GroupSize      int // channels: members of each group channel
	// ChurnRate is the connects per second of the churn scenario; each
	// churning client stays Lifetime, then disconnects. Clients is the
	// steady population beside them.
	ChurnRate float64
	Lifetime  time.Duration
	// LeakWait bounds the wait, after churning, for the server to come
	// back to its connection count before the churn.
	LeakWait time.Duration
	// StallPct is the percentage of subscribers that stall in the slow
	// scenario.
	StallPct  float64
	SourceIPs int
	P99Limit  time.Duration // the latency bound of "highest delivered rate"
	// QuietWait is how long each run may wait for the machine to be idle
	// (other processes under quietPct of a CPU) before it starts; 0: no wait.
	QuietWait time.Duration
	// MaxNoise, when positive, discards a run during which other processes
	// used more than this percent of a CPU, and runs it again, at most
	// Retries times.
	MaxNoise float64
	Retries  int
	// Nodes is 3 when the run starts three channelstream nodes sharing
	// Redis (REST calls to node A, subscribers on node B, node C idle); 0
	// or 1: one server. Nodes ≥ 1 marks a cluster-scenario run, whose
	// results carry per-process figures (Result.Procs).
	Nodes int
	// RedisCluster makes the nodes of a cluster run share a Redis Cluster
	// of three masters instead of one redis-server.
	RedisCluster bool
	// Personal makes the channels scenario use personal channels only.
	Personal bool
	// ClusterFanoutRate is the msgs/s of the cluster scenario's one-channel
	// shape (its personal-channel shape publishes at Rates[0]); 0 skips it.
	ClusterFanoutRate float64
	Server            ServerConfig
	Log               io.Writer // progress lines; nil for none
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// scenarios lists the scenarios of one run.
var scenarios = []string{"idle", "fanout", "channels", "churn", "slow", "cluster"}

// run measures every system over every transport it speaks, cfg.Repeat
// times, each run against a fresh server (when csbench starts it); the
// repetitions are interleaved (system A, system B, A, B, …) so that drift
// of a shared machine hits every system alike. It stops at the first failed
// run and returns the results so far with the error.
func run(ctx context.Context, cfg Config) ([]Result, error) {
	if err := raiseFileLimit(cfg.Clients + churnPeak(cfg)); err != nil {
		return nil, err
	}
	if cfg.Scenario == "cluster" {
		return runCluster(ctx, cfg)
	}
	var out []Result
	for rep := 1; rep <= cfg.Repeat; rep++ {
		for _, tr := range cfg.Transports {
			for _, sys := range cfg.Systems {
				if !slices.Contains(sys.transports, tr) {
					if rep == 1 {
						cfg.logf("%s speaks no %s here: skipped", sys.label, tr)
					}
					continue
				}
				rs, err := runClean(ctx, cfg, sys, tr, rep)
				out = append(out, rs...)
				if err != nil {
					return out, fmt.Errorf("%s %s over %s, run %d: %w", sys.label, cfg.Scenario, tr, rep, err)
				}
			}
		}
	}
	return out, nil
}

// runClean makes one run, waiting for a quiet machine first when
// cfg.QuietWait is set, and runs it again (up to cfg.Retries times) while
// other processes used more than cfg.MaxNoise percent of a CPU during it.
// Discarded runs are returned too, marked by their Error.
func runClean(ctx context.Context, cfg Config, sys *system, transport string, rep int) ([]Result, error) {
	var out []Result
	for attempt := 0; ; attempt++ {
		if cfg.QuietWait > 0 {
			if pct := waitQuiet(ctx, cfg.QuietWait, quietPct); pct >= quietPct {
				cfg.logf("warning: the machine is still busy (%.0f%% of a CPU) after %v: measuring anyway", pct, cfg.QuietWait)
			}
		}
		cfg.logf("%s %s %s: %d clients, run %d/%d", sys.label, cfg.Scenario, transport, cfg.Clients, rep, cfg.Repeat)
		rs, err := runOnce(ctx, cfg, sys, transport, rep)
		if err != nil {
			return append(out, rs...), err
		}
		noise := 0.0
		for _, r := range rs {
			noise = max(noise, r.OtherCPUPct)
		}
		if cfg.MaxNoise <= 0 || noise <= cfg.MaxNoise || attempt >= cfg.Retries {
			return append(out, rs...), nil
		}
		cfg.logf("  discarded: other processes used %.0f%% of a CPU (--max-noise %.0f); running it again", noise, cfg.MaxNoise)
		for i := range rs {
			rs[i].Error = fmt.Sprintf("discarded: other processes used %.0f%% of a CPU", noise)
		}
		out = append(out, rs...)
	}
}

func runOnce(ctx context.Context, cfg Config, sys *system, transport string, rep int) ([]Result, error) {
	open := openServer
	if cfg.Nodes > 1 {
		open = func(ctx context.Context, sys *system, sc ServerConfig) (*server, error) {
			return openCluster(ctx, sys, sc, cfg.RedisCluster)
		}
	}
	srv, err := open(ctx, sys, cfg.Server)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	need := cfg.Clients + churnPeak(cfg)
	if lim := maxOpenFiles(srv.pid); lim > 0 && int64(need+64) > lim {
		return nil, fmt.Errorf("the server (pid %d) may hold %d open files, too few for %d clients: %w",
			srv.pid, lim, need, errFileLimit)
	}
	ad, err := sys.adapter(AdapterConfig{BaseURL: srv.base, AttachURL: srv.attachBase(), Secret: cfg.Server.Secret, APIKey: cfg.Server.APIKey,
		Transport: transport, SourceIPs: cfg.SourceIPs})
	if err != nil {
		return nil, err
	}
	defer ad.Close()
	base := Result{Scenario: cfg.Scenario, System: sys.name, Transport: transport, Clients: cfg.Clients, Run: rep}
	var rs []Result
	switch cfg.Scenario {
	case "idle":
		var r Result
		if r, err = runIdle(ctx, cfg, srv, ad, base); err == nil {
			rs = []Result{r}
		}
	case "fanout", "slow":
		rs, err = runFanout(ctx, cfg, srv, ad, base)
	case "channels":
		rs, err = runChannels(ctx, cfg, srv, ad, base)
	case "churn":
		var r Result
		if r, err = runChurn(ctx, cfg, srv, ad, base); err == nil {
			rs = []Result{r}
		}
	default:
		err = fmt.Errorf("unknown scenario %q", cfg.Scenario)
	}
	if n := srv.fdLimit.Load(); n > 0 {
		// Whatever failed on our side (usually timeouts), this is the cause.
		err = fmt.Errorf("the server (pid %d) logged %d 'too many open files' errors: %w (then: %v)", srv.pid, n, errFileLimit, err)
	}
	if err == nil && !srv.alive() {
		err = fmt.Errorf("the server died during the run: %s", srv.logTail())
	}
	for i := range rs {
		rs[i].ServerWarnings = srv.warns.Load()
		if rs[i].SlowDisconnects == 0 {
			rs[i].SlowDisconnects = srv.slow.Load()
		}
	}
	if errors.Is(err, errFileLimit) {
		cfg.logf("  %v", err)
	}
	return rs, err
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitFor polls cond every interval until it holds or limit has passed,
// and reports whether it held.
func waitFor(ctx context.Context, limit, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || sleepCtx(ctx, interval) != nil {
			return false
		}
	}
}
