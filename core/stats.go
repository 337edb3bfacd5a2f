package core

import "sync/atomic"

// Stats are the hub's counters since it started.
type Stats struct {
	// TotalMessages counts deliveries of published messages (sends, edits,
	// deletes) to connections, as upstream's total_messages: presence and
	// user_state_change frames are not counted.
	TotalMessages atomic.Int64
	// TotalUniqueMessages counts messages sent through Publish.
	TotalUniqueMessages atomic.Int64
	// SlowDisconnects counts transports ended because their queue overflowed.
	SlowDisconnects atomic.Int64
	// CollectedConns counts connections removed by the collector.
	CollectedConns atomic.Int64
}

// Stats returns the hub's live counters.
func (h *Hub) Stats() *Stats { return &h.stats }
