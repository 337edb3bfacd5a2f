package main

import (
	"context"
	"time"
)

// baselineSettle is how long a freshly started server is left alone before
// its baseline memory is read.
const baselineSettle = 500 * time.Millisecond

// runIdle holds cfg.Clients idle subscribers and measures what they cost
// the server: resident memory per connection (VmRSS after the hold minus
// before connecting) and CPU per connection over the hold.
func runIdle(ctx context.Context, cfg Config, srv *server, ad Adapter, r Result) (Result, error) {
	before, err := baseline(ctx, srv)
	if err != nil {
		return r, err
	}
	col := NewCollector(nil, nil)
	pop, took, err := connectAll(ctx, ad, col, cfg.Clients, cfg.Concurrency, oneChannel(cfg.Channel), cfg.ConnectTimeout, cfg.Log)
	if err != nil {
		return r, err
	}
	defer pop.close()
	r, err = measureIdle(ctx, cfg, srv, before, took, r)
	r.Dropped = col.dropped.Load()
	return r, err
}

// oneChannel puts every subscriber in channel.
func oneChannel(channel string) func(int) []string {
	return func(int) []string { return []string{channel} }
}

// baseline returns the server's memory before any client connects, after
// leaving a server csbench started alone for a moment.
func baseline(ctx context.Context, srv *server) (procMem, error) {
	if srv.cmd != nil {
		if err := sleepCtx(ctx, baselineSettle); err != nil {
			return procMem{}, err
		}
	}
	return readMem(srv.pid)
}

// measureIdle waits cfg.Settle, then measures the server's CPU over
// cfg.Duration (or cfg.IdleDuration) and its memory growth since before, per connected client.
func measureIdle(ctx context.Context, cfg Config, srv *server, before procMem, took time.Duration, r Result) (Result, error) {
	r.Scenario = "idle"
	r.ConnectSeconds = took.Seconds()
	hold := cfg.Duration
	if cfg.IdleDuration > 0 {
		hold = cfg.IdleDuration
	}
	cfg.logf("  %d connected in %.1fs; settling %v, then measuring %v", cfg.Clients, took.Seconds(), cfg.Settle, hold)
	if err := sleepCtx(ctx, cfg.Settle); err != nil {
		return r, err
	}
	meter := startCPU(srv.pid)
	if err := sleepCtx(ctx, hold); err != nil {
		return r, err
	}
	w := meter.stop()
	after, err := readMem(srv.pid)
	if err != nil {
		return r, err
	}
	n := float64(cfg.Clients)
	r.RSSBeforeKiB, r.RSSAfterKiB, r.PeakRSSKiB = before.RSSKiB, after.RSSKiB, after.PeakKiB
	r.KiBPerConn = float64(after.RSSKiB-before.RSSKiB) / n
	r.WindowSeconds = w.Wall.Seconds()
	r.ServerCPUSecondsIdle = w.Server.Seconds()
	r.CPUMicrosPerSecConn = float64(w.Server.Microseconds()) / w.Wall.Seconds() / n
	r.setCPU(w)
	cfg.logf("  idle: %.2f KiB and %.2f µs CPU/s per connection", r.KiBPerConn, r.CPUMicrosPerSecConn)
	return r, nil
}
