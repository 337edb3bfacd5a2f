package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// population is the set of subscribers of one run.
type population struct {
	subs []Subscriber
	once sync.Once
}

// connectAll creates n subscribers, subscriber i in channelsOf(i), workers
// at a time, within timeout. On the first failure it stops, closes what it
// created and says how many had connected; progress (may be nil) is told
// every second.
func connectAll(ctx context.Context, ad Adapter, col *Collector, n, workers int, channelsOf func(i int) []string,
	timeout time.Duration, progress io.Writer) (*population, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	subs := make([]Subscriber, n)
	var next, done atomic.Int64
	var errOnce sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s, err := ad.Subscribe(ctx, i, channelsOf(i), col.NewReceiver(i))
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("subscriber %d: %w", i, err)
						cancel()
					})
					return
				}
				subs[i] = s
				done.Add(1)
			}
		}()
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				if progress != nil {
					fmt.Fprintf(progress, "  connected %d/%d\n", done.Load(), n)
				}
			}
		}
	}()
	wg.Wait()
	close(stopProgress)
	<-progressDone
	p := &population{subs: subs}
	took := time.Since(start)
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("connecting %d subscribers took longer than %v (--connect-timeout)", n, timeout)
	}
	if firstErr != nil {
		p.close()
		if errors.Is(firstErr, errFileLimit) {
			return nil, took, fmt.Errorf("after %d connections: %w", done.Load(), firstErr)
		}
		return nil, took, fmt.Errorf("%d of %d subscribers connected, then: %w", done.Load(), n, firstErr)
	}
	return p, took, nil
}

// close ends every subscriber and waits for their readers; later calls do
// nothing.
func (p *population) close() { p.once.Do(p.closeAll) }

func (p *population) closeAll() {
	var wg sync.WaitGroup
	const closers = 16
	ch := make(chan Subscriber)
	for range closers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range ch {
				s.Close()
			}
		}()
	}
	for _, s := range p.subs {
		if s != nil {
			ch <- s
		}
	}
	close(ch)
	wg.Wait()
}
