package main

import (
	"context"
	"time"
)

// sampleInterval is how often a sampler reads the server.
const sampleInterval = 250 * time.Millisecond

// sampler follows the server during a step: its resident memory and,
// when asked, the moment its attached connections fell to a threshold
// (stalled clients disconnected).
type sampler struct {
	stopc chan struct{}
	done  chan struct{}
	res   samples
}

// samples is what a sampler saw. belowAt is the seconds from the start
// until the server's attached connections were first at most the
// threshold, 0 when never (or not watched).
type samples struct {
	first, max, last int64 // VmRSS KiB
	belowAt          float64
}

// startSampler starts following srv; with watch, it also scrapes the
// attached connections until they are at most threshold.
func startSampler(ctx context.Context, srv *server, watch bool, threshold int64) *sampler {
	sp := &sampler{stopc: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	read := func() {
		if m, err := readMem(srv.pid); err == nil {
			if sp.res.first == 0 {
				sp.res.first = m.RSSKiB
			}
			sp.res.max, sp.res.last = max(sp.res.max, m.RSSKiB), m.RSSKiB
		}
		if watch && sp.res.belowAt == 0 {
			if st := srv.stats(ctx); st.Attached >= 0 && st.Attached <= threshold {
				sp.res.belowAt = time.Since(start).Seconds()
			}
		}
	}
	read()
	go func() {
		defer close(sp.done)
		t := time.NewTicker(sampleInterval)
		defer t.Stop()
		for {
			select {
			case <-sp.stopc:
				read()
				return
			case <-ctx.Done():
				return
			case <-t.C:
				read()
			}
		}
	}()
	return sp
}

// stop ends the sampling and returns what was seen.
func (sp *sampler) stop() samples {
	close(sp.stopc)
	<-sp.done
	return sp.res
}
