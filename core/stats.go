package core

import (
	"sync/atomic"
	"time"
)

// Stats are the hub's counters since it started. They are plain atomics,
// read at any time without a lock (a metrics scrape reads them as they
// are); the hub's hot path only ever adds to them.
type Stats struct {
	// TotalMessages counts deliveries of published messages (sends, edits,
	// deletes) to connections, as upstream's total_messages: presence and
	// user_state_change frames are not counted. A delivery is counted when
	// the frame is queued to the connection, whether or not a transport
	// writes it later (see FramesWritten).
	TotalMessages atomic.Int64
	// TotalUniqueMessages counts messages sent through Publish (edits and
	// deletes are not counted), as upstream's total_unique_messages.
	TotalUniqueMessages atomic.Int64
	// SlowDisconnects counts transports ended because their queue overflowed.
	SlowDisconnects atomic.Int64
	// CollectedConns counts connections removed by the collector.
	CollectedConns atomic.Int64
	// CollectedUsers counts users the collector forgot (no connection and
	// no activity for UserTimeout).
	CollectedUsers atomic.Int64
	// CollectedChannels counts channels the collector removed (no
	// connection and no history for ConnTimeout).
	CollectedChannels atomic.Int64
	// FramesDropped counts frames evicted from a connection's full queue
	// before any transport took them: frames its client never received.
	// (Frames a transport already took stay queued for resume and are
	// evicted silently.)
	FramesDropped atomic.Int64
	// FramesWritten counts frames (of every kind) that transports reported
	// written to their clients with Session.Written.
	FramesWritten atomic.Int64
	// BrokerErrors counts failed calls to a cluster broker or store. The
	// in-memory hub never fails; it stays 0 until a broker is configured.
	BrokerErrors atomic.Int64
}

// Stats returns the hub's live counters.
func (h *Hub) Stats() *Stats { return &h.stats }

// Gauges is a snapshot of the hub's current sizes (see Hub.Gauges).
type Gauges struct {
	// Users is how many users the hub remembers, connected or not
	// (admin.json remembered_user_count).
	Users int
	// ConnectedUsers is how many users have at least one connection
	// (admin.json unique_user_count).
	ConnectedUsers int
	// Conns is how many connections exist, attached to a transport or not.
	Conns int
	// AttachedConns is how many connections have a transport attached.
	AttachedConns int
	// Channels is how many channels exist.
	Channels int
	// QueuedFrames is how many frames wait in connection queues that no
	// transport has taken yet.
	QueuedFrames int
	// MaxQueuedFrames is the largest QueuedFrames of a single connection.
	MaxQueuedFrames int
	// RetainedFrames is how many frames the queues hold, taken or not
	// (taken ones are kept for resume until acknowledged or evicted).
	RetainedFrames int
	// RetainedBytes is the encoded size of RetainedFrames, as the queue
	// bounds count it.
	RetainedBytes int
}

// Gauges returns the hub's current sizes. It holds Hub.mu for reading
// while it visits every connection (taking each one's lock briefly), so it
// costs O(connections): call it at scrape time, not per event.
func (h *Hub) Gauges() Gauges {
	h.mu.RLock()
	defer h.mu.RUnlock()
	g := Gauges{Users: len(h.users), Conns: len(h.conns), Channels: len(h.channels)}
	for _, u := range h.users {
		if len(u.conns) > 0 {
			g.ConnectedUsers++
		}
	}
	for _, c := range h.conns {
		c.mu.Lock()
		pending := c.pendingLocked()
		if l := c.connLocal; l != nil {
			if l.session != nil {
				g.AttachedConns++
			}
			g.RetainedFrames += l.queue.len()
			g.RetainedBytes += l.qBytes
		}
		c.mu.Unlock()
		g.QueuedFrames += pending
		g.MaxQueuedFrames = max(g.MaxQueuedFrames, pending)
	}
	return g
}

// since is t as nanoseconds since the hub started: the frame birth times
// Session.Written measures latency from. With the default clock both ends
// carry a monotonic reading, so wall-clock steps do not skew it.
func (h *Hub) since(t time.Time) int64 { return int64(t.Sub(h.started)) }
