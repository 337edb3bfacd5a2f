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
	// publishLead is how far ahead of the first scheduled send the
	// publisher starts, so that the first message is not late by
	// construction.
	publishLead = 50 * time.Millisecond
	// stallDrain bounds the wait, once stalled subscribers read again,
	// for the streams the server had ended to report their end.
	stallDrain = 5 * time.Second
	// sweepStopFactor: a fanout sweep stops after a step whose p99
	// exceeded this many times the p99 limit.
	sweepStopFactor = 4
)

// planSteps turns the rates into contiguous seq ranges: for each rate,
// rate × warmup warm-up messages, then rate × duration measured ones (at
// least one).
func planSteps(rates []float64, warmup, duration time.Duration) []*Step {
	var steps []*Step
	var next uint64
	for _, rate := range rates {
		warm := uint64(math.Ceil(rate * warmup.Seconds()))
		measured := max(uint64(math.Round(rate*duration.Seconds())), 1)
		steps = append(steps, newStep(rate, next, next+warm, next+warm+measured))
		next += warm + measured
	}
	return steps
}

// slowSteps plans a slow-consumer run: a step with every subscriber
// healthy, then one at the same rate during which stallPct percent of them
// stall.
func slowSteps(rate float64, warmup, duration time.Duration, stallPct float64) []*Step {
	steps := planSteps([]float64{rate, rate}, warmup, duration)
	steps[1].Stall = stallPct / 100
	return steps
}

// runFanout subscribes cfg.Clients to one channel (measuring their idle
// cost first with cfg.IdleFirst), then publishes to it at each rate of
// cfg.Rates in turn, open loop, and returns one Result per rate. The slow
// scenario publishes at cfg.Rates[0] twice, the second time with
// cfg.StallPct percent of the subscribers stalled.
func runFanout(ctx context.Context, cfg Config, srv *server, ad Adapter, base Result) ([]Result, error) {
	steps := planSteps(cfg.Rates, cfg.Warmup, cfg.Duration)
	if cfg.Scenario == "slow" {
		steps = slowSteps(cfg.Rates[0], cfg.Warmup, cfg.Duration, cfg.StallPct)
	}
	col := NewCollector(steps, nil)
	var before procMem
	if cfg.IdleFirst {
		var err error
		if before, err = baseline(ctx, srv); err != nil {
			return nil, err
		}
	}
	mem := connMemBefore(cfg, srv)
	pop, took, err := connectAll(ctx, ad, col, cfg.Clients, cfg.Concurrency, oneChannel(cfg.Channel), cfg.ConnectTimeout, cfg.Log)
	if err != nil {
		return nil, err
	}
	defer pop.close()
	if base.Procs, err = connMemAfter(ctx, cfg, srv, mem); err != nil {
		return nil, err
	}
	cfg.logf("  %d connected in %.1fs", cfg.Clients, took.Seconds())
	var out []Result
	if cfg.IdleFirst {
		r, err := measureIdle(ctx, cfg, srv, before, took, base)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	channel := func(uint64) string { return cfg.Channel }
	rs, err := runSteps(ctx, cfg, srv, ad, pop, col, steps, channel, base, took)
	return append(out, rs...), err
}

// runSteps publishes the steps in turn to the connected population pop,
// waits for each to drain, then closes pop and returns one Result per step
// published.
func runSteps(ctx context.Context, cfg Config, srv *server, ad Adapter, pop *population, col *Collector,
	steps []*Step, channelOf func(uint64) string, base Result, took time.Duration) ([]Result, error) {
	var results []Result
	var stalled []int
	for i, s := range steps {
		if i > 0 {
			if err := sleepCtx(ctx, cfg.Pause); err != nil {
				return nil, err
			}
		}
		r := base
		r.ConnectSeconds = took.Seconds()
		r.Rate = s.Rate
		if s.Stall > 0 {
			stalled = stallSome(pop, col, s.Stall)
			r.Stalled = int64(len(stalled))
			cfg.logf("  %d subscribers stop reading", len(stalled))
		}
		var slowBefore serverStats
		if s.Stall > 0 {
			slowBefore = srv.stats(ctx)
		}
		samp := startSampler(ctx, srv, s.Stall > 0, int64(cfg.Clients-len(stalled)))
		meter := startCPU(srv.pid, srv.pids()[1:]...)
		failed, err := publishStep(ctx, ad, channelOf, s, cfg.PubInflight, cfg.PayloadBytes)
		if err != nil {
			samp.stop()
			return nil, err
		}
		want := col.Expected(s)
		waitFor(ctx, cfg.Drain, 10*time.Millisecond, func() bool { return s.all.Load() >= want })
		w := meter.stop()
		r.setCPU(w)
		if base.Procs != nil {
			r.Procs = procCPU(base.Procs, w, s.hi-s.lo, procRSS(srv.pids()))
		}
		sm := samp.stop()
		r.RSSStartKiB, r.RSSMaxKiB, r.RSSAfterKiB = sm.first, sm.max, sm.last
		r.StallDisconnectSeconds = sm.belowAt
		if s.Stall > 0 {
			// The server's own count, whatever reason it gave.
			if after := srv.stats(ctx); slowBefore.Slow >= 0 && after.Slow >= 0 {
				r.SlowDisconnects = after.Slow - slowBefore.Slow
			}
		}
		if m, err := readMem(srv.pid); err == nil {
			r.PeakRSSKiB = m.PeakKiB
		}
		r.PublishErrors = failed.n
		if failed.n > 0 {
			cfg.logf("  warning: %d publishes failed; first: %v", failed.n, failed.first)
		}
		results = append(results, r)
		p99 := time.Duration(s.Latency.Quantile(0.99))
		cfg.logf("  %g msg/s: %d of %d deliveries, p99 %.1f ms", s.Rate, s.all.Load(), want, p99.Seconds()*1e3)
		if cfg.SweepStop && cfg.Scenario != "slow" && i < len(steps)-1 && p99 > sweepStopFactor*cfg.P99Limit {
			cfg.logf("  p99 passed %d × %v: higher rates skipped", sweepStopFactor, cfg.P99Limit)
			break
		}
	}
	if len(stalled) > 0 {
		// Stalled clients read again: those the server disconnected find
		// the end of their stream behind what was buffered.
		for _, i := range stalled {
			pop.subs[i].Unstall()
		}
		waitFor(ctx, stallDrain, 20*time.Millisecond, func() bool { return col.stalledEnded.Load() >= int64(len(stalled)) })
	}
	// Loss can be counted once every reader has stopped.
	dropped := col.dropped.Load()
	pop.close()
	if err := col.FirstError(); err != nil && dropped > 0 {
		cfg.logf("  warning: %d subscribers dropped; first: %v", dropped, err)
	}
	for i := range results {
		r, s := &results[i], steps[i]
		fillLatency(r, s, col)
		r.Dropped = dropped
		if s.Stall > 0 {
			r.StalledDisconnected = col.stalledEnded.Load()
		}
	}
	return results, nil
}

// stallSome makes every k-th subscriber (share ≈ 1/k) stop reading and
// returns their indexes; their receivers are excluded from then on.
func stallSome(pop *population, col *Collector, share float64) []int {
	k := max(int(math.Round(1/share)), 1)
	var idx []int
	for i := 0; i < len(pop.subs); i += k {
		idx = append(idx, i)
		col.receivers[i].Exclude()
		pop.subs[i].Stall()
	}
	return idx
}

// fillLatency fills the delivery figures of r from step s.
func fillLatency(r *Result, s *Step, col *Collector) {
	measured := s.hi - s.warm
	window := float64(measured) / s.Rate * 1e9
	if last := s.lastRecv.Load(); last > 0 {
		window = max(window, float64(last-s.firstSched.Load()))
	}
	h := s.Latency
	r.Messages = int64(measured)
	r.Deliveries = s.measured.Load()
	healthy := float64(r.Clients) - float64(r.Stalled)
	if col.aud == nil {
		r.OfferedPerSec = s.Rate * healthy
	} else if all := s.hi - s.lo; all > 0 {
		// Mean audience of the step's messages, times the rate.
		r.OfferedPerSec = s.Rate * float64(col.Expected(s)) / float64(all-uint64(s.failedCount()))
	}
	r.DeliveredPerSec = float64(r.Deliveries) / (window / 1e9)
	r.P50ms = float64(h.Quantile(0.50)) / 1e6
	r.P99ms = float64(h.Quantile(0.99)) / 1e6
	r.P999ms = float64(h.Quantile(0.999)) / 1e6
	r.Maxms = float64(h.Max()) / 1e6
	r.Latency = latencyPoints(h)
	r.Lost = col.Loss(s)
	r.Duplicated = s.dups.Load()
	r.Unexpected = col.unexpected.Load()
	r.Frames = col.frames.Load()
}

// publishFailures summarises a step's failed publishes.
type publishFailures struct {
	n     int64
	first error
}

// publishStep publishes the messages of s at s.Rate, open loop: message k
// is scheduled at start + k/rate whatever happened to the previous ones,
// and carries that scheduled time, so a slow publish shows as latency
// instead of lowering the rate. A failed publish is not retried: the
// server may have published it all the same (Centrifugo's HTTP server, for
// one, drops the answer of a request that took over 10 s), and a retry
// would show as duplicates. Message seq goes to channelOf(seq) with
// pad bytes of padding. At most inflight publishes run at once.
func publishStep(ctx context.Context, ad Adapter, channelOf func(uint64) string, s *Step, inflight, pad int) (publishFailures, error) {
	var fails atomic.Int64
	var errOnce sync.Once
	var first error
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	defer wg.Wait()
	pace, err := newPacer()
	if err != nil {
		return publishFailures{}, err
	}
	defer pace.close()
	start := time.Now().Add(publishLead)
	s.firstSched.Store(start.Add(time.Duration(float64(s.warm-s.lo) / s.Rate * 1e9)).UnixNano())
	for seq := s.lo; seq < s.hi; seq++ {
		sched := start.Add(time.Duration(float64(seq-s.lo) / s.Rate * 1e9))
		if err := pace.until(ctx, sched); err != nil {
			return publishFailures{}, err
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return publishFailures{}, ctx.Err()
		}
		wg.Add(1)
		go func(seq uint64, sent int64) {
			defer wg.Done()
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, restTimeout)
			defer cancel()
			if err := ad.Publish(pctx, channelOf(seq), appendMarker(nil, seq, sent, pad)); err != nil {
				fails.Add(1)
				s.publishFailed(seq)
				errOnce.Do(func() { first = fmt.Errorf("publish %d: %w", seq, err) })
			}
		}(seq, sched.UnixNano())
	}
	wg.Wait()
	return publishFailures{n: fails.Load(), first: first}, nil
}
