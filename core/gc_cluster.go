package core

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Collection in a cluster. Every node applies the collect entries; which
// connections and users go is decided from replicated state alone. In
// data-plane mode a channel's history is not replicated state (it lives in
// the DataPlane), so the node that asks for a collection decides which idle
// channels have none: it picks the candidates (no connection, idle for
// longer than ConnTimeout), reads their history off every lock, and lists
// the empty ones in the entry; every node removes those of the list that
// are still collectable when it applies it, and the origin then deletes
// their history (DataPlane.DeleteHistory), so that a channel made again
// later starts with none. Nodes do not see messages in this mode, so a
// message is not activity that keeps a channel: an idle channel without
// connections or history goes even while messages are published to it
// (they reach nobody), where a single hub would keep it; and a message
// published to it between the check and the removal goes with it.
//
// Only one node checks channels on its ticks: the live node (lease not
// older than ConnTimeout) with the smallest id. A channel found with a
// history is checked again after ConnTimeout, then twice as long each time
// (at most keptRecheckMax), unless something changes it meanwhile.

// keptRecheckMax caps the wait between two checks of a channel found with
// a history.
const keptRecheckMax = 16

// dpCollector is a node's own state for data-plane collection.
type dpCollector struct {
	// running is set while a tick's collection runs (one at a time).
	running atomic.Bool

	mu sync.Mutex
	// kept are the candidates last found with a history: not checked
	// again before next, unless their idleSince changed.
	kept map[string]keptChannel
	// undeleted are removed channels whose history could not be deleted
	// yet: retried on the next collection.
	undeleted map[string]struct{}
}

type keptChannel struct {
	idleSince time.Time
	next      time.Time
	wait      time.Duration
}

// candidate is an idle channel without connections.
type candidate struct {
	name      string
	idleSince time.Time
}

// tickCollect is the cluster loop's collection at now: append a collect
// entry when something is stale (without waiting for it), or in
// data-plane mode start collectCluster unless one still runs.
func (h *Hub) tickCollect(ctx context.Context, wg *sync.WaitGroup, now time.Time) {
	if h.dp == nil {
		if h.stale(now) {
			h.appendAsync(op{Kind: opCollect})
		}
		return
	}
	if !h.dpgc.running.CompareAndSwap(false, true) {
		return
	}
	wg.Go(func() {
		defer h.dpgc.running.Store(false)
		ctx, cancel := context.WithTimeout(ctx, h.cfg.ReplicateTimeout)
		defer cancel()
		h.collectCluster(ctx, now, true)
	})
}

// collectCluster submits a collection at now and reports how many
// connections this node removed applying it. In data-plane mode it lists
// the channels to collect first (on a tick, only the channel-checking node
// lists any) and deletes their history afterwards; it submits nothing when
// nothing is to go.
func (h *Hub) collectCluster(ctx context.Context, now time.Time, tick bool) int {
	o := op{Kind: opCollect}
	members := true
	if h.dp != nil {
		var cands []candidate
		members, cands = h.collectCandidates(now)
		if tick && !h.checksChannels(now) {
			cands = nil
		}
		o.Channels = h.emptyChannels(ctx, now, cands)
	}
	var res collected
	if members || len(o.Channels) > 0 {
		res, _ = submit[collected](ctx, h, o) // a failure removed nothing here
	}
	if h.dp != nil {
		h.deleteHistories(ctx, res.channels)
	}
	return res.conns
}

// collectCandidates reports whether a connection or user is stale at now,
// and lists the channels collectable at now by what the node knows (their
// history aside), by name.
func (h *Hub) collectCandidates(now time.Time) (members bool, cands []candidate) {
	h.mu.RLock()
	members = h.staleMembersLocked(now)
	for name, ch := range h.channels {
		if ch.collectable(now, h.cfg.ConnTimeout) {
			cands = append(cands, candidate{name: name, idleSince: time.Unix(0, ch.idleSince)})
		}
	}
	h.mu.RUnlock()
	slices.SortFunc(cands, func(a, b candidate) int { return strings.Compare(a.name, b.name) })
	return members, cands
}

// checksChannels reports whether this node is the one that checks channels
// on its ticks: no other node with a smaller id has a lease younger than
// ConnTimeout at now.
func (h *Hub) checksChannels(now time.Time) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for node, at := range h.leases {
		if node < h.repl.node && now.UnixNano()-at <= int64(h.cfg.ConnTimeout) {
			return false
		}
	}
	return true
}

// emptyChannels returns the candidates whose history is empty, reading
// those not known to have one (see dpCollector.kept) with one
// DataPlane.Histories call. When it fails, every candidate is kept this
// time.
func (h *Hub) emptyChannels(ctx context.Context, now time.Time, cands []candidate) []string {
	g := &h.dpgc
	g.mu.Lock()
	if g.kept == nil {
		g.kept = map[string]keptChannel{}
	}
	var check []candidate
	live := make(map[string]struct{}, len(cands))
	for _, c := range cands {
		live[c.name] = struct{}{}
		if k, ok := g.kept[c.name]; ok && k.idleSince.Equal(c.idleSince) && now.Before(k.next) {
			continue
		}
		check = append(check, c)
	}
	for name := range g.kept {
		if _, ok := live[name]; !ok {
			delete(g.kept, name) // no longer idle, or gone
		}
	}
	g.mu.Unlock()

	if len(check) == 0 {
		return nil
	}
	names := make([]string, len(check))
	for i, c := range check {
		names[i] = c.name
	}
	lists, err := h.dp.Histories(ctx, names)
	if err != nil {
		h.stats.BrokerErrors.Add(1)
		h.log.Warn().Err(err).Int("channels", len(names)).Msg("collection: reading the histories of idle channels failed")
		return nil
	}
	var empty []string
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, c := range check {
		switch {
		case len(lists[i]) > 0:
			k := g.kept[c.name]
			k.wait = min(max(2*k.wait, h.cfg.ConnTimeout), keptRecheckMax*h.cfg.ConnTimeout)
			if !k.idleSince.Equal(c.idleSince) {
				k.wait = h.cfg.ConnTimeout
			}
			k.idleSince, k.next = c.idleSince, now.Add(k.wait)
			g.kept[c.name] = k
		default:
			empty = append(empty, c.name)
		}
	}
	return empty
}

// deleteHistories deletes the history of the channels a collection
// removed, and of those whose deletion failed before; a channel made again
// meanwhile keeps its history (deleting it would take the new messages).
func (h *Hub) deleteHistories(ctx context.Context, removed []string) {
	g := &h.dpgc
	g.mu.Lock()
	if len(removed) == 0 && len(g.undeleted) == 0 {
		g.mu.Unlock()
		return
	}
	if g.undeleted == nil {
		g.undeleted = map[string]struct{}{}
	}
	for _, name := range removed {
		g.undeleted[name] = struct{}{}
	}
	names := sortedKeys(g.undeleted)
	g.mu.Unlock()
	h.mu.RLock()
	remade := make([]bool, len(names))
	for i, name := range names {
		remade[i] = h.channels[name] != nil
	}
	h.mu.RUnlock()
	failed := make([]error, len(names))
	parallel(len(names), func(i int) {
		if !remade[i] {
			failed[i] = h.dp.DeleteHistory(ctx, names[i])
		}
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, name := range names {
		if failed[i] != nil {
			h.stats.BrokerErrors.Add(1)
			h.log.Warn().Err(failed[i]).Str("channel", name).Msg("collection: deleting a removed channel's history failed; retrying later")
			continue
		}
		delete(g.undeleted, name)
	}
}

// historyDeletes bounds how many DataPlane.DeleteHistory calls a
// collection runs at the same time.
const historyDeletes = 8

// parallel calls fn(0) … fn(n-1), at most historyDeletes at a time, and
// returns when every call has.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, historyDeletes)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}
