package core

import (
	"context"
	"fmt"
	"sync"
)

// memSubscriber is the Subscriber of a MemoryDataPlane: Publish offers each
// entry of a referenced stream to the partition's queue under the data
// plane's lock, and one goroutine per partition hands the queue to fn.
type memSubscriber struct {
	d     *MemoryDataPlane
	fn    func(StreamEntry)
	parts []*memSubQueue
	wg    sync.WaitGroup

	// refs and closed are guarded by d.mu.
	refs   map[Stream]*memRef
	closed bool
}

// memRef is one referenced stream: its count and the epoch of the last
// entry delivered (to mark the first one after a Reset with Gap).
type memRef struct {
	count int
	epoch uint32
}

// memSubQueue is one partition's entries waiting for fn.
type memSubQueue struct {
	mu      sync.Mutex
	cond    sync.Cond
	entries []StreamEntry
	closed  bool
}

// NewSubscriber implements DataPlane. The memory backend never fails, so
// onErr is never called.
func (d *MemoryDataPlane) NewSubscriber(fn func(StreamEntry), _ func(error)) Subscriber {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	s := &memSubscriber{d: d, fn: fn, refs: make(map[Stream]*memRef)}
	s.parts = make([]*memSubQueue, d.NumPartitions)
	for i := range s.parts {
		q := &memSubQueue{}
		q.cond.L = &q.mu
		s.parts[i] = q
		s.wg.Add(1)
		go s.run(q)
	}
	d.subs[s] = struct{}{}
	return s
}

// Add implements Subscriber.
func (s *memSubscriber) Add(_ context.Context, st Stream) error {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	switch {
	case s.closed:
		return fmt.Errorf("add %v: %w", st, errSubscriberClosed)
	case s.d.down:
		return errDown("subscribe")
	}
	r := s.refs[st]
	if r == nil {
		r = &memRef{epoch: s.d.parts[PartitionOf(st, s.d.NumPartitions)].epoch}
		s.refs[st] = r
	}
	r.count++
	return nil
}

// Remove implements Subscriber.
func (s *memSubscriber) Remove(st Stream) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if r := s.refs[st]; r != nil {
		r.count--
		if r.count <= 0 {
			delete(s.refs, st)
		}
	}
}

// Close implements Subscriber.
func (s *memSubscriber) Close() error {
	s.d.mu.Lock()
	if s.closed {
		s.d.mu.Unlock()
		return nil
	}
	s.closed = true
	clear(s.refs)
	delete(s.d.subs, s)
	s.d.mu.Unlock()
	for _, q := range s.parts {
		q.mu.Lock()
		q.closed = true
		q.cond.Broadcast()
		q.mu.Unlock()
	}
	s.wg.Wait()
	return nil
}

// offerLocked queues e when its stream has a reference. Caller holds d.mu.
func (s *memSubscriber) offerLocked(e StreamEntry) {
	r := s.refs[e.Stream]
	if r == nil {
		return
	}
	if e.Pos.Epoch != r.epoch {
		e.Gap, r.epoch = true, e.Pos.Epoch
	}
	q := s.parts[e.Pos.Partition]
	q.mu.Lock()
	q.entries = append(q.entries, e)
	q.cond.Signal()
	q.mu.Unlock()
}

// run hands q's entries to fn, in order, while their stream is referenced.
func (s *memSubscriber) run(q *memSubQueue) {
	defer s.wg.Done()
	for {
		q.mu.Lock()
		for len(q.entries) == 0 && !q.closed {
			q.cond.Wait()
		}
		if q.closed {
			q.mu.Unlock()
			return
		}
		batch := q.entries
		q.entries = nil
		q.mu.Unlock()
		for _, e := range batch {
			s.d.mu.Lock()
			live := s.refs[e.Stream] != nil
			s.d.mu.Unlock()
			if live {
				s.fn(e)
			}
		}
	}
}
