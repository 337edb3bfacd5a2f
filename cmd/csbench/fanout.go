package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// publishLead is how far ahead of the first scheduled send the publisher
// starts, so that the first message is not late by construction.
const publishLead = 50 * time.Millisecond

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

// runFanout subscribes cfg.Clients to one channel, then publishes to it at
// each rate of cfg.Rates in turn, open loop, and returns one Result per
// rate.
func runFanout(ctx context.Context, cfg Config, srv *server, ad Adapter, base Result) ([]Result, error) {
	steps := planSteps(cfg.Rates, cfg.Warmup, cfg.Duration)
	col := NewCollector(steps)
	pop, took, err := connectAll(ctx, ad, col, cfg.Clients, cfg.Concurrency, cfg.Channel, cfg.ConnectTimeout, cfg.Log)
	if err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			pop.close()
		}
	}()
	cfg.logf("  %d connected in %.1fs", cfg.Clients, took.Seconds())
	results := make([]Result, len(steps))
	var pubErr error
	for i, s := range steps {
		if i > 0 {
			if err := sleepCtx(ctx, cfg.Pause); err != nil {
				return nil, err
			}
		}
		r := base
		r.ConnectSeconds = took.Seconds()
		r.Rate = s.Rate
		meter := startCPU(srv.pid)
		failed, err := publishStep(ctx, ad, cfg.Channel, s, cfg.PubInflight)
		if err != nil {
			return nil, err
		}
		if failed.n > 0 && pubErr == nil {
			pubErr = failed.first
		}
		ok := int64(s.hi-s.lo) - failed.n
		waitDrained(ctx, s, int64(cfg.Clients)*ok, cfg.Drain)
		r.setCPU(meter.stop())
		if m, err := readMem(srv.pid); err == nil {
			r.RSSAfterKiB, r.PeakRSSKiB = m.RSSKiB, m.PeakKiB
		}
		r.PublishErrors = failed.n
		results[i] = r
		cfg.logf("  %.0f msgs/s: %d of %d deliveries, p99 %.1f ms", s.Rate, s.all.Load(),
			int64(cfg.Clients)*ok, float64(s.Latency.Quantile(0.99))/1e6)
	}
	// Loss can be counted once every reader has stopped.
	dropped := col.dropped.Load()
	pop.close()
	closed = true
	for i, s := range steps {
		r := &results[i]
		measured := s.hi - s.warm
		window := float64(measured) / s.Rate * 1e9
		if last := s.lastRecv.Load(); last > 0 {
			window = max(window, float64(last-s.firstSched.Load()))
		}
		h := s.Latency
		r.Messages = int64(measured)
		r.OfferedPerSec = s.Rate * float64(cfg.Clients)
		r.Deliveries = s.measured.Load()
		r.DeliveredPerSec = float64(r.Deliveries) / (window / 1e9)
		r.P50ms = float64(h.Quantile(0.50)) / 1e6
		r.P99ms = float64(h.Quantile(0.99)) / 1e6
		r.P999ms = float64(h.Quantile(0.999)) / 1e6
		r.Maxms = float64(h.Max()) / 1e6
		r.Lost = col.Loss(s)
		r.Duplicated = s.dups.Load()
		r.Unexpected = col.unexpected.Load()
		r.Frames = col.frames.Load()
		r.Dropped = dropped
	}
	if err := col.FirstError(); err != nil && dropped > 0 {
		cfg.logf("  warning: %d subscribers dropped; first: %v", dropped, err)
	}
	if pubErr != nil {
		cfg.logf("  warning: publishes failed; first: %v", pubErr)
	}
	return results, nil
}

// publishFailures summarises a step's failed publishes.
type publishFailures struct {
	n     int64
	first error
}

// publishStep publishes the messages of s at s.Rate, open loop: message k
// is scheduled at start + k/rate whatever happened to the previous ones,
// and carries that scheduled time, so a slow publish shows as latency
// instead of lowering the rate. At most inflight publishes run at once.
func publishStep(ctx context.Context, ad Adapter, channel string, s *Step, inflight int) (publishFailures, error) {
	var fails atomic.Int64
	var errOnce sync.Once
	var first error
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	defer wg.Wait()
	start := time.Now().Add(publishLead)
	s.firstSched.Store(start.Add(time.Duration(float64(s.warm-s.lo) / s.Rate * 1e9)).UnixNano())
	for seq := s.lo; seq < s.hi; seq++ {
		sched := start.Add(time.Duration(float64(seq-s.lo) / s.Rate * 1e9))
		if err := sleepCtx(ctx, time.Until(sched)); err != nil {
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
			if err := ad.Publish(pctx, channel, appendMarker(nil, seq, sent)); err != nil {
				fails.Add(1)
				s.publishFailed(seq)
				errOnce.Do(func() { first = fmt.Errorf("publish %d: %w", seq, err) })
			}
		}(seq, sched.UnixNano())
	}
	wg.Wait()
	return publishFailures{n: fails.Load(), first: first}, nil
}

// waitDrained waits until s has want first deliveries, or for at most
// drain.
func waitDrained(ctx context.Context, s *Step, want int64, drain time.Duration) {
	deadline := time.Now().Add(drain)
	for s.all.Load() < want && time.Now().Before(deadline) {
		if sleepCtx(ctx, 10*time.Millisecond) != nil {
			return
		}
	}
}
