package main

import (
	"sync"
	"sync/atomic"
)

// Step is one publishing phase of a fanout or channels run: the messages
// with seq in [lo, hi) were scheduled at rate msgs/s; those below warm are
// the warm-up, checked for loss and duplicates but left out of latency and
// throughput.
type Step struct {
	Rate         float64
	lo, warm, hi uint64
	// Stall, in a slow-consumer run, is the share of subscribers (0..1)
	// that stop reading when this step starts.
	Stall float64
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

// Audience returns the subscribers that must receive message seq: the
// indexes [lo, hi). Every scenario's audiences are index ranges: the whole
// population (fanout), one subscriber (a personal channel) or ten
// neighbours (a group channel).
type Audience func(seq uint64) (lo, hi int)

// Collector gathers what every subscriber of one run received. Subscribers
// report through their own Receiver.
type Collector struct {
	steps []*Step
	total uint64   // seqs [0, total) are planned
	aud   Audience // nil: every receiver gets every message

	frames     atomic.Int64 // transport frames (WebSocket messages, SSE events, poll answers)
	unexpected atomic.Int64 // deliveries with a seq outside the plan or to a non-member
	dropped    atomic.Int64 // healthy subscribers whose stream ended before Close
	// stalledEnded counts stalled subscribers whose stream ended: the
	// server disconnected them.
	stalledEnded atomic.Int64
	errMu        sync.Mutex
	firstErr     error

	recvMu    sync.Mutex
	receivers []*Receiver // by subscriber index; nil where none was made
}

// NewCollector plans the steps; their seq ranges must be contiguous from 0.
// aud says who receives each message (nil: everyone).
func NewCollector(steps []*Step, aud Audience) *Collector {
	c := &Collector{steps: steps, aud: aud}
	if len(steps) > 0 {
		c.total = steps[len(steps)-1].hi
	}
	return c
}

// NewReceiver returns the receiver of subscriber i.
func (c *Collector) NewReceiver(i int) *Receiver {
	r := &Receiver{c: c, idx: i, seen: newSeqSet(c.total)}
	c.recvMu.Lock()
	for len(c.receivers) <= i {
		c.receivers = append(c.receivers, nil)
	}
	c.receivers[i] = r
	c.recvMu.Unlock()
	return r
}

// FirstError returns the first unexpected end of a healthy stream, or nil.
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
// arrived, counting only messages whose publish succeeded and subscribers
// that were not stalled. Call it once every subscriber's reader has
// stopped.
func (c *Collector) Loss(s *Step) int64 {
	return c.count(s, func(r *Receiver, seq uint64) bool { return !r.seen.has(seq) })
}

// Expected returns how many first deliveries step s should get: the
// audience of each successfully published message, stalled subscribers
// left out.
func (c *Collector) Expected(s *Step) int64 {
	return c.count(s, func(*Receiver, uint64) bool { return true })
}

// count counts the (healthy receiver, published seq of s) pairs for which
// f is true.
func (c *Collector) count(s *Step, f func(r *Receiver, seq uint64) bool) int64 {
	var skip func(uint64) bool
	if s.failedCount() > 0 {
		skip = s.isFailed
	}
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	var n int64
	for seq := s.lo; seq < s.hi; seq++ {
		if skip != nil && skip(seq) {
			continue
		}
		lo, hi := 0, len(c.receivers)
		if c.aud != nil {
			lo, hi = c.aud(seq)
		}
		for i := max(lo, 0); i < min(hi, len(c.receivers)); i++ {
			if r := c.receivers[i]; r != nil && !r.excluded.Load() && f(r, seq) {
				n++
			}
		}
	}
	return n
}

// Receiver tracks what one subscriber received. Deliver and Frame are
// called by that subscriber's reader goroutine only.
type Receiver struct {
	c    *Collector
	idx  int
	seen seqSet
	// excluded marks a stalled subscriber: from then on its deliveries,
	// losses and end are not the healthy population's.
	excluded atomic.Bool
}

// Exclude marks the subscriber as stalled.
func (r *Receiver) Exclude() { r.excluded.Store(true) }

// Deliver records message seq, scheduled at sent and received at recv (unix
// ns).
func (r *Receiver) Deliver(seq uint64, sent, recv int64) {
	if r.excluded.Load() {
		return
	}
	if seq >= r.c.total {
		r.c.unexpected.Add(1)
		return
	}
	if r.c.aud != nil {
		if lo, hi := r.c.aud(seq); r.idx < lo || r.idx >= hi {
			r.c.unexpected.Add(1)
			return
		}
	}
	dup, _ := r.seen.add(seq)
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

// Ended records that the subscriber's stream ended before Close: a drop for
// a healthy subscriber, a server-side disconnect for a stalled one.
func (r *Receiver) Ended(err error) {
	if r.excluded.Load() {
		r.c.stalledEnded.Add(1)
		return
	}
	r.c.dropped.Add(1)
	r.c.errMu.Lock()
	if r.c.firstErr == nil {
		r.c.firstErr = err
	}
	r.c.errMu.Unlock()
}
