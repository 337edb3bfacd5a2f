package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// quietPct is the machine-wide CPU use (percent of one CPU) under which
// --quiet-wait considers the machine idle.
const quietPct = 10

// Config is one csbench invocation.
type Config struct {
	Scenario   string // idle or fanout
	Adapter    string
	Transports []string
	Clients    int
	Duration   time.Duration // idle: the measured hold; fanout: each rate step
	Rates      []float64     // fanout: msgs/s of each step, in order
	Warmup     time.Duration // fanout: publishes before each step's measurement
	Drain      time.Duration // fanout: longest wait for late deliveries after a step
	Pause      time.Duration // fanout: quiet time between steps
	Settle     time.Duration // idle: wait between connecting and measuring
	Repeat     int
	// Concurrency is how many subscribers connect at once.
	Concurrency    int
	ConnectTimeout time.Duration
	PubInflight    int // fanout: most publishes in flight
	Channel        string
	SourceIPs      int
	P99Limit       time.Duration // fanout: the latency bound of "max sustained"
	// QuietWait is how long each run may wait for the machine to be idle
	// (other processes under quietPct of a CPU) before it starts; 0: no wait.
	QuietWait time.Duration
	// MaxNoise, when positive, discards a run during which other processes
	// used more than this percent of a CPU, and runs it again, at most
	// Retries times.
	MaxNoise float64
	Retries  int
	Server   ServerConfig
	Log      io.Writer // progress lines; nil for none
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// run measures every transport cfg.Repeat times, each run against a fresh
// server (when csbench starts it), and returns every result. It stops at
// the first failed run and returns the results so far with the error.
func run(ctx context.Context, cfg Config) ([]Result, error) {
	if err := checkFileBudget(cfg.Clients); err != nil {
		return nil, err
	}
	var out []Result
	for _, tr := range cfg.Transports {
		for rep := 1; rep <= cfg.Repeat; rep++ {
			rs, err := runClean(ctx, cfg, tr, rep)
			out = append(out, rs...)
			if err != nil {
				return out, fmt.Errorf("%s over %s, run %d: %w", cfg.Scenario, tr, rep, err)
			}
		}
	}
	return out, nil
}

// runClean makes one run, waiting for a quiet machine first when
// cfg.QuietWait is set, and runs it again (up to cfg.Retries times) while
// other processes used more than cfg.MaxNoise percent of a CPU during it.
// Discarded runs are returned too, marked by their Error.
func runClean(ctx context.Context, cfg Config, transport string, rep int) ([]Result, error) {
	var out []Result
	for attempt := 0; ; attempt++ {
		if cfg.QuietWait > 0 {
			if pct := waitQuiet(ctx, cfg.QuietWait, quietPct); pct >= quietPct {
				cfg.logf("warning: the machine is still busy (%.0f%% of a CPU) after %v: measuring anyway", pct, cfg.QuietWait)
			}
		}
		cfg.logf("%s %s: %d clients, run %d/%d", cfg.Scenario, transport, cfg.Clients, rep, cfg.Repeat)
		rs, err := runOnce(ctx, cfg, transport, rep)
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

func runOnce(ctx context.Context, cfg Config, transport string, rep int) ([]Result, error) {
	srv, err := openServer(ctx, cfg.Server)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if lim := maxOpenFiles(srv.pid); lim > 0 && int64(cfg.Clients+64) > lim {
		return nil, fmt.Errorf("the server (pid %d) may hold %d open files, too few for %d clients: %w",
			srv.pid, lim, cfg.Clients, errFileLimit)
	}
	ad, err := newAdapter(cfg.Adapter, AdapterConfig{BaseURL: srv.base, Secret: cfg.Server.Secret,
		Transport: transport, SourceIPs: cfg.SourceIPs})
	if err != nil {
		return nil, err
	}
	defer ad.Close()
	base := Result{Scenario: cfg.Scenario, Adapter: cfg.Adapter, Transport: transport, Clients: cfg.Clients, Run: rep}
	var rs []Result
	switch cfg.Scenario {
	case "idle":
		var r Result
		if r, err = runIdle(ctx, cfg, srv, ad, base); err == nil {
			rs = []Result{r}
		}
	case "fanout":
		rs, err = runFanout(ctx, cfg, srv, ad, base)
	default:
		err = fmt.Errorf("unknown scenario %q (known: idle, fanout)", cfg.Scenario)
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
		rs[i].SlowDisconnects = srv.slow.Load()
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
