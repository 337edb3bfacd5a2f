package core

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"
)

// Run collects inactive connections every Config.GCInterval until ctx is
// done: a connection idle for longer than ConnTimeout is removed (whatever
// its channels) and its transport closed with DisconnectGone; a user with no
// connection and no activity for UserTimeout is forgotten; a channel with
// no connection and no history is removed ConnTimeout after it was made,
// configured, left by its last connection or sent a message. With a Log, Run
// also follows the log and applies its entries (see cluster.go); the hub
// then answers Ready once it has caught up, appends its lease every
// ConnTimeout/4 (at most 5 s), and announces the holds and releases of its
// transports' connections (lease.go): a connection held by a node whose
// lease lives is never idle. In data-plane mode with a Config.StatsBoard,
// Run posts the node's message counters to it (see StatsBoard).
func (h *Hub) Run(ctx context.Context) error {
	if h.repl != nil {
		if b := h.board(); b != nil {
			var wg sync.WaitGroup
			defer wg.Wait()
			wg.Go(func() { h.runStats(ctx, b) })
		}
		return h.runCluster(ctx)
	}
	t := time.NewTicker(h.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			h.Collect()
		}
	}
}

// Collect runs one collection pass now and reports how many connections it
// removed. A clustered hub asks the log to collect and reports what this
// node removed when it applied that entry (0 when the log is unreachable);
// in data-plane mode it first checks which idle channels have no history
// (see collectCluster).
func (h *Hub) Collect() int {
	if h.repl != nil {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ReplicateTimeout)
		defer cancel()
		return h.collectCluster(ctx, h.cfg.Now(), false)
	}
	return h.applyCollect(h.cfg.Now(), nil, nil).conns
}

// collected is what applying a collection removed: how many connections,
// and in data-plane mode the names of the channels.
type collected struct {
	conns    int
	channels []string
}

// stale reports whether the collector would remove something at now.
func (h *Hub) stale(now time.Time) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.staleMembersLocked(now) {
		return true
	}
	for _, ch := range h.channels {
		if ch.collectable(now, h.cfg.ConnTimeout) {
			return true
		}
	}
	return false
}

// staleMembersLocked reports whether the collector would remove a
// connection or forget a user at now. Caller holds h.mu.
func (h *Hub) staleMembersLocked(now time.Time) bool {
	clock := h.leaseClockLocked(now)
	for _, c := range h.conns {
		if h.idleLocked(c, clock) > h.cfg.ConnTimeout {
			return true
		}
	}
	for _, u := range h.users {
		if len(u.conns) == 0 && now.Sub(time.Unix(0, u.lastActive)) > h.cfg.UserTimeout {
			return true
		}
	}
	return false
}

// applyCollect is Collect's change: it removes what is inactive at now, in
// connection id order (so that every node of a cluster does it alike). In
// data-plane mode the channels removed are those of listed that are still
// collectable (their history, in the DataPlane, was found empty by the
// origin); otherwise listed is ignored and every collectable channel goes.
func (h *Hub) applyCollect(now time.Time, ids *idSource, listed []string) collected {
	if !h.stale(now) {
		return collected{}
	}
	h.mu.Lock()
	h.forgetLeasesLocked(now)
	clock := h.leaseClockLocked(now)
	var stale []*Conn
	for _, c := range h.conns {
		if h.idleLocked(c, clock) > h.cfg.ConnTimeout {
			stale = append(stale, c)
		}
	}
	slices.SortFunc(stale, func(a, b *Conn) int { return bytes.Compare(a.id[:], b.id[:]) })
	var events []routed
	for _, c := range stale {
		events = append(events, h.removeConnLocked(c, now, ids)...)
	}
	forgotten := 0
	for name, u := range h.users {
		if len(u.conns) == 0 && now.Sub(time.Unix(0, u.lastActive)) > h.cfg.UserTimeout {
			delete(h.users, name)
			forgotten++
		}
	}
	// After the connections: a channel their removal left empty waits
	// ConnTimeout from now (its parted events still find it).
	res := collected{conns: len(stale)}
	channels := 0
	if h.dp == nil {
		for name, ch := range h.channels {
			if ch.collectable(now, h.cfg.ConnTimeout) {
				delete(h.channels, name)
				channels++
			}
		}
	} else {
		for _, name := range listed {
			if ch := h.channels[name]; ch != nil && ch.collectable(now, h.cfg.ConnTimeout) {
				delete(h.channels, name)
				res.channels = append(res.channels, name)
			}
		}
		channels = len(res.channels)
	}
	h.mu.Unlock()

	for _, c := range stale {
		c.close(DisconnectGone)
		h.log.Debug().Str("conn_id", c.ID()).Str("user", c.user.name).Msg("connection collected")
	}
	h.stats.CollectedConns.Add(int64(len(stale)))
	h.stats.CollectedUsers.Add(int64(forgotten))
	h.stats.CollectedChannels.Add(int64(channels))
	h.routeAll(events)
	return res
}
