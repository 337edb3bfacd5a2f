package core

import (
	"context"
	"time"
)

// Run collects inactive connections every Config.GCInterval until ctx is
// done: a connection idle for longer than ConnTimeout is removed (whatever
// its channels) and its transport closed with DisconnectGone; a user with no
// connection and no activity for UserTimeout is forgotten.
func (h *Hub) Run(ctx context.Context) error {
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
// removed.
func (h *Hub) Collect() int {
	now := h.cfg.Now()
	h.mu.RLock()
	var stale []*Conn
	for _, c := range h.conns {
		if c.idleSince(now) > h.cfg.ConnTimeout {
			stale = append(stale, c)
		}
	}
	staleUsers := 0
	for _, u := range h.users {
		if len(u.conns) == 0 && now.Sub(u.lastActive) > h.cfg.UserTimeout {
			staleUsers++
		}
	}
	h.mu.RUnlock()
	if len(stale) == 0 && staleUsers == 0 {
		return 0
	}

	h.mu.Lock()
	var events []routed
	removed := stale[:0]
	for _, c := range stale {
		// Re-check under the write lock: the connection may have been
		// touched or removed meanwhile.
		if h.conns[c.id] != c || c.idleSince(now) <= h.cfg.ConnTimeout {
			continue
		}
		events = append(events, h.removeConnLocked(c, now)...)
		removed = append(removed, c)
	}
	forgotten := 0
	for name, u := range h.users {
		if len(u.conns) == 0 && now.Sub(u.lastActive) > h.cfg.UserTimeout {
			delete(h.users, name)
			forgotten++
		}
	}
	h.mu.Unlock()

	for _, c := range removed {
		c.close(DisconnectGone)
		h.log.Debug().Str("conn_id", c.id).Str("user", c.user.name).Msg("connection collected")
	}
	h.stats.CollectedConns.Add(int64(len(removed)))
	h.stats.CollectedUsers.Add(int64(forgotten))
	h.routeAll(events)
	return len(removed)
}
