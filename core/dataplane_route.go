package core

import (
	"context"
	"sync"
	"sync/atomic"
)

// dpNode is a data-plane hub's live side: the node's Subscriber, the index
// of the connections this node holds by stream, and the worker that makes
// the Subscriber calls the log's applying goroutine must not wait for.
//
// Every held connection takes one Subscriber reference per stream of its
// own (the Subscriber counts them), so a stream reaches this node exactly
// while some connection held here needs it, and a node that holds nothing
// subscribes to nothing and receives nothing.
type dpNode struct {
	h  *Hub
	dp DataPlane

	// mu guards sub and local. It is a leaf: nothing else is locked while
	// it is held. A connection's index entries change under its Conn.mu,
	// with Conn.dp.
	mu    sync.Mutex
	sub   Subscriber
	local map[Stream]map[*Conn]struct{}

	// work holds the Subscriber calls queued by applying (worker runs
	// them in order); workC wakes it.
	wmu   sync.Mutex
	work  []func()
	workC chan struct{}

	// received counts the entries the Subscriber delivered; routed the
	// deliveries to held connections.
	received atomic.Int64
	routed   atomic.Int64
}

func newDPNode(h *Hub, dp DataPlane) *dpNode {
	return &dpNode{h: h, dp: dp, local: map[Stream]map[*Conn]struct{}{}, workC: make(chan struct{}, 1)}
}

// open opens the node's Subscriber; run then serves the worker.
func (n *dpNode) open() {
	sub := n.dp.NewSubscriber(n.onEntry, func(err error) {
		n.h.stats.BrokerErrors.Add(1)
		n.h.log.Warn().Err(err).Msg("data plane subscriber failed; it reconnects")
	})
	n.mu.Lock()
	n.sub = sub
	n.mu.Unlock()
}

// run runs the worker until ctx is done, then closes the Subscriber.
func (n *dpNode) run(ctx context.Context) {
	defer func() {
		n.mu.Lock()
		sub := n.sub
		n.sub = nil
		n.mu.Unlock()
		_ = sub.Close()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.workC:
		}
		for {
			n.wmu.Lock()
			jobs := n.work
			n.work = nil
			n.wmu.Unlock()
			if len(jobs) == 0 {
				break
			}
			for _, job := range jobs {
				job()
			}
		}
	}
}

// later queues job for the worker; it never blocks.
func (n *dpNode) later(job func()) {
	n.wmu.Lock()
	n.work = append(n.work, job)
	n.wmu.Unlock()
	select {
	case n.workC <- struct{}{}:
	default:
	}
}

// subscriber returns the node's Subscriber, nil before Run or after it.
func (n *dpNode) subscriber() Subscriber {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sub
}

// index adds c to the local index under streams.
func (n *dpNode) index(c *Conn, streams []Stream) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range streams {
		set := n.local[s]
		if set == nil {
			set = map[*Conn]struct{}{}
			n.local[s] = set
		}
		set[c] = struct{}{}
	}
}

// unindex takes c out of the local index under streams.
func (n *dpNode) unindex(c *Conn, streams []Stream) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range streams {
		set := n.local[s]
		if _, ok := set[c]; !ok {
			continue
		}
		delete(set, c)
		if len(set) == 0 {
			delete(n.local, s)
		}
	}
}

// addRefs takes one Subscriber reference per stream; on failure it drops
// those it took and returns the error.
func (n *dpNode) addRefs(ctx context.Context, streams []Stream) error {
	sub := n.subscriber()
	if sub == nil {
		return errNotRunning
	}
	for i, s := range streams {
		if err := sub.Add(ctx, s); err != nil {
			for _, t := range streams[:i] {
				sub.Remove(t)
			}
			return err
		}
	}
	return nil
}

// dropRefs drops one Subscriber reference per stream.
func (n *dpNode) dropRefs(streams []Stream) {
	if sub := n.subscriber(); sub != nil {
		for _, s := range streams {
			sub.Remove(s)
		}
	}
}

// localStreams is how many streams have a connection held here.
func (n *dpNode) localStreams() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.local)
}

// onEntry is the Subscriber's fn: it routes e to the connections this
// node holds in e's stream. Calls for one partition never overlap.
func (n *dpNode) onEntry(e StreamEntry) {
	n.received.Add(1)
	n.mu.Lock()
	set := n.local[e.Stream]
	targets := make([]*Conn, 0, len(set))
	for c := range set {
		targets = append(targets, c)
	}
	n.mu.Unlock()
	if len(targets) == 0 {
		return
	}
	var f *dpFrame // none for a reset mark
	if e.Pos.N != 0 {
		fr, err := n.h.frameOf(e)
		if err != nil {
			n.h.log.Error().Err(err).Msg("skipping a data plane entry")
			return
		}
		f = &fr
	}
	for _, c := range targets {
		c.mu.Lock()
		n.h.deliverLocked(c, e, f, deliverLive)
		c.mu.Unlock()
	}
}
