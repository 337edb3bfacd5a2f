package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// churnConnectTimeout bounds one churning client's connect.
	churnConnectTimeout = 10 * time.Second
	// churnUsersPerSlot: churning clients are returning users, a pool of
	// this many users per client alive at once (so that a server that
	// remembers users, as channelstream does for 24 h, is not measured
	// on a stream of ever new ones).
	churnUsersPerSlot = 4
	// leakSlackFDs is how many more open files than before the churn
	// still count as "back" (log files, idle keep-alive sockets).
	leakSlackFDs = 16
)

// churnPeak returns how many churning clients may be open at once, beside
// the steady ones: what the file budget must hold.
func churnPeak(cfg Config) int {
	if cfg.Scenario != "churn" {
		return 0
	}
	return int(math.Ceil(cfg.ChurnRate*(cfg.Lifetime+churnConnectTimeout).Seconds())) + cfg.Concurrency
}

// churnStats is what the churning clients saw.
type churnStats struct {
	connect       *Histogram // scheduled start → subscribed, ns
	ok, failed    atomic.Int64
	notStarted    atomic.Int64 // scheduled connects that found no free slot before the end
	disconnects   atomic.Int64
	errMu         sync.Mutex
	firstErr      error
	first, lastOK atomic.Int64 // unix ns of the first schedule and the last successful connect
	firstDisc     atomic.Int64 // unix ns of the first disconnect (0: none yet)
	lastDisc      atomic.Int64 // unix ns of the last disconnect
}

func (c *churnStats) fail(err error) {
	c.failed.Add(1)
	c.errMu.Lock()
	if c.firstErr == nil {
		c.firstErr = err
	}
	c.errMu.Unlock()
}

// runChurn holds cfg.Clients steady subscribers, then for cfg.Duration
// opens cfg.ChurnRate new clients per second (open loop: each connect is
// timed from its scheduled start), each of which subscribes, stays
// cfg.Lifetime and disconnects. It reports the connect times and, once the
// churning clients are gone and the server had up to cfg.LeakWait to clean
// up, what the server holds compared with before the churn.
func runChurn(ctx context.Context, cfg Config, srv *server, ad Adapter, r Result) (Result, error) {
	col := NewCollector(nil, nil)
	pop, took, err := connectAll(ctx, ad, col, cfg.Clients, cfg.Concurrency, oneChannel(cfg.Channel), cfg.ConnectTimeout, cfg.Log)
	if err != nil {
		return r, err
	}
	defer pop.close()
	r.ConnectSeconds = took.Seconds()
	cfg.logf("  %d steady clients connected in %.1fs", cfg.Clients, took.Seconds())
	if err := sleepCtx(ctx, cfg.Settle); err != nil {
		return r, err
	}
	// Idle keep-alive connections of the REST pool would close some time
	// later and look like a change: close them now and before the end.
	ad.Close()
	before := steadyStats(ctx, srv)
	meter := startCPU(srv.pid)
	cs := churn(ctx, cfg, ad)
	w := meter.stop()
	r.setCPU(w)
	if err := ctx.Err(); err != nil {
		return r, err
	}
	start := time.Now()
	ad.Close()
	var after serverStats
	settled := waitFor(ctx, cfg.LeakWait, 250*time.Millisecond, func() bool {
		after = srv.stats(ctx)
		return (before.Conns < 0 || after.Conns <= before.Conns) && (before.FDs < 0 || after.FDs <= before.FDs+leakSlackFDs)
	})
	r.LeakSettleSeconds = time.Since(start).Seconds()
	if !settled {
		cfg.logf("  warning: the server had not come back to its connections and open files of before the churn after %v", cfg.LeakWait)
		r.LeakUnsettled = 1
	}
	h := cs.connect
	r.ChurnRate, r.LifetimeSeconds = cfg.ChurnRate, cfg.Lifetime.Seconds()
	r.Connects, r.ConnectFailures, r.NotStarted = cs.ok.Load(), cs.failed.Load(), cs.notStarted.Load()
	r.Disconnects = cs.disconnects.Load()
	if span := float64(cs.lastOK.Load()-cs.first.Load()) / 1e9; span > 0 {
		r.ConnectsPerSec = float64(r.Connects) / max(span, cfg.Duration.Seconds())
	}
	if span := float64(cs.lastDisc.Load()-cs.firstDisc.Load()) / 1e9; r.Disconnects > 0 {
		r.DisconnectsPerSec = float64(r.Disconnects) / max(span, cfg.Duration.Seconds())
	}
	r.ConnP50ms, r.ConnP99ms = float64(h.Quantile(0.5))/1e6, float64(h.Quantile(0.99))/1e6
	r.ConnMaxms = float64(h.Max()) / 1e6
	r.Latency = latencyPoints(h)
	if r.Connects > 0 {
		r.ServerCPUMicrosPerConnect = float64(w.Server.Microseconds()) / float64(r.Connects)
	}
	r.RSSBeforeKiB, r.RSSAfterKiB = before.RSSKiB, after.RSSKiB
	r.FDsBefore, r.FDsAfter = before.FDs, after.FDs
	r.GoroutinesBefore, r.GoroutinesAfter = before.Goroutines, after.Goroutines
	r.ConnsBefore, r.ConnsAfter = before.Conns, after.Conns
	r.Dropped = col.dropped.Load()
	cfg.logf("  churn: %d connects (%d failed), p99 %.1f ms; after %.1fs: goroutines %d→%d, fds %d→%d, conns %d→%d, RSS %.1f→%.1f MiB",
		r.Connects, r.ConnectFailures, r.ConnP99ms, r.LeakSettleSeconds, before.Goroutines, after.Goroutines,
		before.FDs, after.FDs, before.Conns, after.Conns, float64(before.RSSKiB)/1024, float64(after.RSSKiB)/1024)
	if cs.firstErr != nil {
		cfg.logf("  warning: first failed connect: %v", cs.firstErr)
	}
	return r, nil
}

// steadyStatsWait bounds steadyStats.
const steadyStatsWait = 3 * time.Second

// steadyStats reads the server's snapshot once its open files and
// goroutines stopped changing (three equal reads 100 ms apart), or after
// steadyStatsWait.
func steadyStats(ctx context.Context, srv *server) serverStats {
	st := srv.stats(ctx)
	same := 0
	waitFor(ctx, steadyStatsWait, 100*time.Millisecond, func() bool {
		next := srv.stats(ctx)
		if next.FDs == st.FDs && next.Goroutines == st.Goroutines {
			same++
		} else {
			same = 0
		}
		st = next
		return same >= 2
	})
	return st
}

// churn runs the churning clients and returns once every one of them has
// disconnected.
func churn(ctx context.Context, cfg Config, ad Adapter) *churnStats {
	cs := &churnStats{connect: NewHistogram()}
	col := NewCollector(nil, nil) // churning clients get no messages
	slots := make(chan struct{}, churnPeak(cfg))
	users := max(int(math.Ceil(cfg.ChurnRate*cfg.Lifetime.Seconds()))*churnUsersPerSlot, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	start := time.Now().Add(publishLead)
	end := start.Add(cfg.Duration)
	cs.first.Store(start.UnixNano())
	total := int(math.Round(cfg.ChurnRate * cfg.Duration.Seconds()))
	for k := range total {
		sched := start.Add(time.Duration(float64(k) / cfg.ChurnRate * 1e9))
		if sleepCtx(ctx, time.Until(sched)) != nil {
			return cs
		}
		if !acquire(ctx, slots, end) {
			cs.notStarted.Add(int64(total - k))
			return cs
		}
		wg.Add(1)
		go func(k int, sched time.Time) {
			defer wg.Done()
			defer func() { <-slots }()
			cctx, cancel := context.WithTimeout(ctx, churnConnectTimeout)
			defer cancel()
			i := cfg.Clients + k%users
			sub, err := ad.Subscribe(cctx, i, []string{cfg.Channel}, col.NewReceiver(k))
			if err != nil {
				cs.fail(fmt.Errorf("churning client %d: %w", k, err))
				return
			}
			now := time.Now()
			cs.connect.Record(now.Sub(sched).Nanoseconds())
			cs.ok.Add(1)
			storeMax(&cs.lastOK, now.UnixNano())
			_ = sleepCtx(ctx, cfg.Lifetime)
			sub.Close()
			cs.disconnects.Add(1)
			now = time.Now()
			cs.firstDisc.CompareAndSwap(0, now.UnixNano())
			storeMax(&cs.lastDisc, now.UnixNano())
		}(k, sched)
	}
	return cs
}

// storeMax raises a to v unless it is larger already.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// acquire takes a slot, waiting until end at most (a free slot is taken
// even when the schedule is already past end), and reports whether it got
// one.
func acquire(ctx context.Context, slots chan struct{}, end time.Time) bool {
	select {
	case slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(time.Until(end))
	defer t.Stop()
	select {
	case slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}
