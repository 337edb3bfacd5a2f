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
	if srv.cmd != nil {
		if err := sleepCtx(ctx, baselineSettle); err != nil {
			return r, err
		}
	}
	before, err := readMem(srv.pid)
	if err != nil {
		return r, err
	}
	col := NewCollector(nil)
	pop, took, err := connectAll(ctx, ad, col, cfg.Clients, cfg.Concurrency, cfg.Channel, cfg.ConnectTimeout, cfg.Log)
	if err != nil {
		return r, err
	}
	defer pop.close()
	r.ConnectSeconds = took.Seconds()
	cfg.logf("  %d connected in %.1fs; settling %v, then measuring %v", cfg.Clients, took.Seconds(), cfg.Settle, cfg.Duration)
	if err := sleepCtx(ctx, cfg.Settle); err != nil {
		return r, err
	}
	meter := startCPU(srv.pid)
	if err := sleepCtx(ctx, cfg.Duration); err != nil {
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
	r.Dropped = col.dropped.Load()
	return r, nil
}
