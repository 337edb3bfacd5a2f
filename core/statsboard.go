package core

import (
	"context"
	"sync"
	"time"
)

// Counters are the message counters a node posts to a StatsBoard.
type Counters struct {
	// Messages is Stats.TotalMessages (admin.json total_messages).
	Messages int64
	// UniqueMessages is Stats.TotalUniqueMessages (total_unique_messages).
	UniqueMessages int64
}

// StatsBoard adds up the message counters of a cluster's nodes. In
// data-plane mode each node counts only its own work (the publishes it
// takes, the deliveries to the connections it holds), so admin.json's
// totals come from the board, the same on every node (Config.StatsBoard).
// Every node of a cluster uses the same board; implementations are safe
// for concurrent use and bounded by ctx.
//
// Contract:
//   - Post records the counters of one life of a node: id is unique per
//     node and per start of it, and c holds its counts since that start,
//     which never decrease. The totals grow by what c grew since the
//     previous post of id (by all of c on its first), so a repeated post
//     counts nothing twice, and what a node that stopped or died counted
//     stays in the totals.
//   - Totals returns the sums of everything posted.
//   - An id not posted for StatsKeep may be forgotten (what it counted
//     stays in the totals); a post of it afterwards would count all of it
//     again, so a live node posts well within StatsKeep.
//   - Errors from an unreachable backend wrap ErrUnavailable.
type StatsBoard interface {
	Post(ctx context.Context, id string, c Counters) error
	Totals(ctx context.Context) (Counters, error)
}

// StatsKeep is how long a StatsBoard keeps an id that is not posted.
const StatsKeep = 24 * time.Hour

// statsRefresh is how often a node posts its counters when they did not
// change (so that the board keeps its id).
const statsRefresh = time.Minute

// MemoryStatsBoard is a StatsBoard in memory, for several hubs in one
// process. The zero value is ready to use.
type MemoryStatsBoard struct {
	mu    sync.Mutex
	last  map[string]Counters
	total Counters
}

// NewMemoryStatsBoard returns an empty MemoryStatsBoard.
func NewMemoryStatsBoard() *MemoryStatsBoard { return &MemoryStatsBoard{} }

// Post implements StatsBoard.
func (b *MemoryStatsBoard) Post(_ context.Context, id string, c Counters) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		b.last = map[string]Counters{}
	}
	prev := b.last[id]
	b.total.Messages += max(0, c.Messages-prev.Messages)
	b.total.UniqueMessages += max(0, c.UniqueMessages-prev.UniqueMessages)
	b.last[id] = c
	return nil
}

// Totals implements StatsBoard.
func (b *MemoryStatsBoard) Totals(context.Context) (Counters, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total, nil
}

// counters are this node's own message counters.
func (h *Hub) counters() Counters {
	return Counters{Messages: h.stats.TotalMessages.Load(), UniqueMessages: h.stats.TotalUniqueMessages.Load()}
}

// board is Config.StatsBoard in data-plane mode, nil otherwise.
func (h *Hub) board() StatsBoard {
	if h.dp == nil {
		return nil
	}
	return h.cfg.StatsBoard
}

// runStats posts this node's counters to the board every GCInterval when
// they changed, and at least every statsRefresh, until ctx is done; then
// once more, so that a node that stops leaves all it counted.
func (h *Hub) runStats(ctx context.Context, b StatsBoard) {
	id := h.repl.node + ":" + h.repl.boot
	var posted Counters
	var at time.Time
	post := func(ctx context.Context) {
		c := h.counters()
		if c == posted && time.Since(at) < statsRefresh {
			return
		}
		ctx, cancel := context.WithTimeout(ctx, h.cfg.ReplicateTimeout)
		defer cancel()
		if err := b.Post(ctx, id, c); err != nil {
			h.stats.BrokerErrors.Add(1)
			h.log.Warn().Err(err).Msg("posting the message counters failed")
			return
		}
		posted, at = c, time.Now()
	}
	t := time.NewTicker(h.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			post(context.WithoutCancel(ctx))
			return
		case <-t.C:
			post(ctx)
		}
	}
}

// totals returns the message totals admin.json shows: in data-plane mode
// with a board, the cluster's (when the board cannot be read now, the last
// totals read, zero before the first; the failure is logged); otherwise
// this node's counters.
func (h *Hub) totals(ctx context.Context) Counters {
	b := h.board()
	if b == nil {
		return h.counters()
	}
	c, err := b.Totals(ctx)
	if err != nil {
		h.stats.BrokerErrors.Add(1)
		h.log.Warn().Err(err).Msg("admin.json shows the last message totals read: the stats board could not be read")
		if last := h.lastTotals.Load(); last != nil {
			return *last
		}
		return Counters{}
	}
	h.lastTotals.Store(&c)
	return c
}
