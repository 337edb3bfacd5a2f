package main

import (
	"sync"
	"sync/atomic"
)

// Step is one publishing phase of a fanout run: the messages with seq in
// [lo, hi) were scheduled at rate msgs/s; those below warm are the warm-up,
// checked for loss and duplicates but left out of latency and throughput.
type Step struct {
	Rate         float64
	lo, warm, hi uint64
	// firstSched is the scheduled send time (unix ns) of seq warm.
	firstSched atomic.Int64

	Latency *Histogram // measured deliveries: receive − scheduled send, ns
	// measured counts deliveries of seq ≥ warm; all counts every first
	// delivery of the step (warm-up included), dups the repeated ones.
	measured, all, dups atomic.Int64
	lastRecv            atomic.Int64 // unix ns of the latest measured delivery

	failMu sync.Mutex
	failed map[uint64]bool // seqs whose publish failed
}

func newStep(rate float64, lo, warm, hi uint64) *Step {
	return &Step{Rate: rate, lo: lo, warm: warm, hi: hi, Latency: NewHistogram(), failed: map[uint64]bool{}}
}

// publishFailed records that seq was never accepted by the server.
func (s *Step) publishFailed(seq uint64) {
	s.failMu.Lock()
	s.failed[seq] = true
	s.failMu.Unlock()
}

func (s *Step) isFailed(seq uint64) bool {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failed[seq]
}

func (s *Step) failedCount() int {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return len(s.failed)
}

// Collector gathers what every subscriber of one run received. Subscribers
// report through their own Receiver.
type Collector struct {
	steps []*Step
	total uint64 // seqs [0, total) are planned

	frames     atomic.Int64 // transport frames (WebSocket messages, SSE events, poll answers)
	unexpected atomic.Int64 // deliveries with a seq outside the plan
	dropped    atomic.Int64 // subscribers whose stream ended before Close
	errMu      sync.Mutex
	firstErr   error

	recvMu    sync.Mutex
	receivers []*Receiver
}

// NewCollector plans the steps; their seq ranges must be contiguous from 0.
func NewCollector(steps []*Step) *Collector {
	c := &Collector{steps: steps}
	if len(steps) > 0 {
		c.total = steps[len(steps)-1].hi
	}
	return c
}

// NewReceiver returns the receiver of one subscriber.
func (c *Collector) NewReceiver() *Receiver {
	r := &Receiver{c: c, seen: newSeqSet(c.total)}
	c.recvMu.Lock()
	c.receivers = append(c.receivers, r)
	c.recvMu.Unlock()
	return r
}

// streamEnded records that a subscriber's stream ended unexpectedly.
func (c *Collector) streamEnded(err error) {
	c.dropped.Add(1)
	c.errMu.Lock()
	if c.firstErr == nil {
		c.firstErr = err
	}
	c.errMu.Unlock()
}

// FirstError returns the first unexpected end of a stream, or nil.
func (c *Collector) FirstError() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.firstErr
}

func (c *Collector) stepOf(seq uint64) *Step {
	for _, s := range c.steps {
		if seq < s.hi {
			return s
		}
	}
	return nil
}

// Loss returns, for step s, how many (subscriber, message) deliveries never
// arrived, counting only messages whose publish succeeded. Call it once
// every subscriber's reader has stopped.
func (c *Collector) Loss(s *Step) int64 {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	var skip func(uint64) bool
	if s.failedCount() > 0 {
		skip = s.isFailed
	}
	var n int64
	for _, r := range c.receivers {
		n += int64(r.seen.missing(s.lo, s.hi, skip))
	}
	return n
}

// Receiver tracks what one subscriber received. Its methods are called by
// that subscriber's reader goroutine only.
type Receiver struct {
	c    *Collector
	seen seqSet
}

// Deliver records message seq, scheduled at sent and received at recv (unix
// ns).
func (r *Receiver) Deliver(seq uint64, sent, recv int64) {
	dup, ok := r.seen.add(seq)
	if !ok {
		r.c.unexpected.Add(1)
		return
	}
	s := r.c.stepOf(seq)
	if dup {
		s.dups.Add(1)
		return
	}
	s.all.Add(1)
	if seq < s.warm {
		return
	}
	s.measured.Add(1)
	s.Latency.Record(recv - sent)
	for {
		cur := s.lastRecv.Load()
		if recv <= cur || s.lastRecv.CompareAndSwap(cur, recv) {
			break
		}
	}
}

// Frame counts one transport frame.
func (r *Receiver) Frame() { r.c.frames.Add(1) }
