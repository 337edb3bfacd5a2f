package core

import (
	"bytes"
	"context"
	"slices"
	"time"
)

// Liveness in a cluster. Transports' activity (heartbeats, polls) stays on
// the node that serves them; the log carries only what decides collection,
// and nothing per connection while nothing changes:
//
//   - lease: each node appends one every leaseInterval. A node's last
//     lease time is replicated state (Hub.leases).
//   - hold: a node's transport attached to connections (at: attach time).
//     The connection's holder becomes that node; a transport another node
//     attached before is replaced.
//   - release: a node's transport for connections is gone (at: when it
//     detached; sent: the hand-over position). The holder is cleared when
//     it is that node. A session with AttachOptions.Linger (long-poll) is
//     released only when no transport attached again for that long, so a
//     poll costs no entry.
//
// A connection's last sign of life is its last activity the hub decided
// (connect, subscribe, unsubscribe, a release's time) or, while a node
// holds it, that node's last lease (idleLocked): so a connection whose
// transport lives on a live node is never collected, one released is
// collected conn_timeout after its transport left (as on one node), and
// the connections of a node that died (no lease for conn_timeout) are
// collected by the others. Idleness is measured on the lease clock, not
// past the newest lease in the log (leaseClockLocked), so that a stall
// every node shares makes none of them look dead. Every input is
// replicated and applied in log order, so every node decides alike.

// leaseInterval is how often a clustered node appends its lease: a live
// node's last lease is never older than ConnTimeout.
func (h *Hub) leaseInterval() time.Duration {
	return min(max(h.cfg.ConnTimeout/4, 20*time.Millisecond), 5*time.Second)
}

// connMark is one connection in a hold or release.
type connMark struct {
	ID string `json:"id"`
	// At is the attach (hold) or detach (release) time, unix nanoseconds.
	At int64 `json:"at"`
	// Sent is the last seq handed to a transport on the releasing node.
	Sent uint64 `json:"sent,omitempty"`
	// Cursor is, in data-plane mode, the resume cursor at Sent: where
	// the node that holds the connection next starts it (Cursor's text).
	Cursor string `json:"cursor,omitempty"`
}

// What a node last told the log about a connection (Conn.announced).
const (
	announcedNone    = iota // nothing, or released, or another node took it
	announcedHeld           // a hold of this node is the last word
	announcedUnknown        // an append failed: its fate is open
)

// idleLocked is how long c has given no sign of life at clock, the lease
// clock of the entry being applied (leaseClockLocked). Caller holds h.mu.
func (h *Hub) idleLocked(c *Conn, clock int64) time.Duration {
	last := c.lastActive.Load()
	if node := c.holderNode(); node != "" {
		last = max(last, h.leases[node])
	}
	return time.Duration(clock - last)
}

// leaseClockLocked is the time, in unix nanoseconds, at which an entry
// applied at now judges connections idle: now, but not later than the
// newest lease applied so far (when there is one). A node is judged by the
// leases the log carries: its lease is stale only once another node's
// lease came through the log more than ConnTimeout after it. Without this
// bound, a stall that every node shares (the log's backend unresponsive,
// the nodes' host descheduled) would let the first entry after it, a
// collection timestamped by a node that woke up, find every other node's
// lease older than ConnTimeout, though none of them could append one
// meanwhile, and collect the connections their transports serve. A dead
// node's connections go at most one leaseInterval later than by now alone.
// Leases are replicated state, so every node computes the same clock.
// Caller holds h.mu.
func (h *Hub) leaseClockLocked(now time.Time) int64 {
	clock := now.UnixNano()
	var newest int64
	for _, at := range h.leases {
		newest = max(newest, at)
	}
	if newest > 0 {
		clock = min(clock, newest)
	}
	return clock
}

// applyLease records node's lease at time at.
func (h *Hub) applyLease(node string, at int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if at > h.leases[node] {
		h.leases[node] = at
	}
}

// forgetLeasesLocked drops the leases older than ConnTimeout on the lease
// clock at now (so never the newest): no decision depends on them any more
// (a connection held by such a node is judged by its own activity, which
// is what the lease no longer beats). Caller holds h.mu for writing.
func (h *Hub) forgetLeasesLocked(now time.Time) {
	clock := h.leaseClockLocked(now)
	for node, at := range h.leases {
		if clock-at > int64(h.cfg.ConnTimeout) {
			delete(h.leases, node)
		}
	}
}

// applyHold makes node the holder of the marked connections. On the other
// nodes, a transport attached before the hold is replaced; one attached
// after it is announced again, so that the newest attachment wins
// everywhere.
func (h *Hub) applyHold(node string, marks []connMark) {
	mine := node == h.repl.node
	for _, m := range marks {
		h.mu.Lock()
		c := h.connLocked(m.ID)
		if c != nil {
			c.setHolder(node)
			if m.At > c.lastActive.Load() {
				c.lastActive.Store(m.At)
			}
		}
		h.mu.Unlock()
		if c == nil || mine {
			continue
		}
		c.mu.Lock()
		if c.connLocal == nil {
			// This node never served c: no session, nothing held.
			c.mu.Unlock()
			continue
		}
		again := false
		var held *connDP
		switch s := c.session; {
		case s != nil && s.attachedAt < m.At:
			c.endSessionLocked(DisconnectReplaced)
			c.announced = announcedNone
		case s != nil:
			c.announced, again = announcedUnknown, true
		default:
			c.announced = announcedNone
		}
		// An attachment here that began after the hold and is still
		// catching up (no session yet) keeps its state: its own hold,
		// announced once it is attached, replaces the other node's.
		if !again && (c.dp == nil || c.session != nil || c.dp.since < m.At) {
			held = h.takeHeldLocked(c) // the other node serves it now
		}
		c.mu.Unlock()
		h.unhold(held, true)
		if again {
			h.repl.markDirty(c)
		}
	}
}

// applyRelease clears node's hold of the marked connections and records
// their transports' last activity and hand-over positions.
func (h *Hub) applyRelease(node string, marks []connMark) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range marks {
		c := h.connLocked(m.ID)
		if c == nil {
			continue
		}
		if c.holderNode() == node {
			c.setHolder("")
		}
		if m.At > c.lastActive.Load() {
			c.lastActive.Store(m.At)
		}
		switch {
		case h.dp != nil && m.Cursor != "":
			if cur, err := ParseCursor(m.Cursor); err == nil {
				c.mu.Lock()
				c.keepRelLocked(cur)
				c.mu.Unlock()
			}
		case h.dp == nil && node != h.repl.node && m.Sent > 0:
			c.mu.Lock()
			c.sent = max(c.sent, min(m.Sent, c.nextSeq-1))
			c.mu.Unlock()
		}
	}
}

// runLeases appends this node's lease every leaseInterval until ctx is
// done, on a goroutine of its own: no other append may hold it up.
func (h *Hub) runLeases(ctx context.Context) {
	t := time.NewTicker(h.leaseInterval())
	defer t.Stop()
	for {
		h.appendAsync(op{Kind: opLease})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runAnnounce appends the holds and releases this node owes (announce):
// those made due by attachments and detachments at once, the rest (a
// lingering session, an append that failed) every leaseInterval, and,
// when ctx is done, a release of everything it holds, so that the others
// know what was handed over and collect the connections conn_timeout
// later unless their clients attach elsewhere.
func (h *Hub) runAnnounce(ctx context.Context) {
	t := time.NewTicker(h.leaseInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.announce(false, true)
			return
		case <-h.repl.dirtyC:
			h.announce(false, false)
		case <-t.C:
			h.announce(true, false)
		}
	}
}

// attached notes, on a clustered hub, that a transport of this node
// attached to c (s is c's new session, set under c.mu).
func (r *replicator) attached(c *Conn, linger time.Duration) {
	c.mu.Lock()
	c.left, c.linger = 0, linger
	held := c.announced == announcedHeld
	c.mu.Unlock()
	r.markLocal(c, !held)
}

// detached notes, on a clustered hub, that a transport of this node for c
// is gone at now.
func (r *replicator) detached(c *Conn, now time.Time) {
	c.mu.Lock()
	if c.session == nil && c.left == 0 {
		c.left = now.UnixNano()
	}
	// A transport that took frames and left before its hold went out is
	// released too: the release tells the other nodes what was handed over.
	prompt := c.session == nil && c.linger == 0 && (c.announced != announcedNone || c.sent > 0)
	c.mu.Unlock()
	if prompt {
		r.markDirty(c)
	}
}

// markLocal adds c to the connections this node serves or holds, and
// wakes the loop that announces them when dirty.
func (r *replicator) markLocal(c *Conn, dirty bool) {
	r.lmu.Lock()
	r.local[c] = struct{}{}
	if dirty {
		r.dirty[c] = struct{}{}
	}
	r.lmu.Unlock()
	if dirty {
		select {
		case r.dirtyC <- struct{}{}:
		default:
		}
	}
}

func (r *replicator) markDirty(c *Conn) { r.markLocal(c, true) }

// announce appends the holds and releases this node owes the log: for the
// dirty connections, or for every local one when all is set (each lease
// beat, for the sessions that lingered long enough). final releases every
// connection (the node stops). It runs on the cluster loop only.
func (h *Hub) announce(all, final bool) {
	r := h.repl
	r.lmu.Lock()
	set := r.dirty
	if all || final {
		set = r.local
	}
	conns := make([]*Conn, 0, len(set))
	for c := range set {
		conns = append(conns, c)
	}
	clear(r.dirty)
	r.lmu.Unlock()
	if len(conns) == 0 {
		return
	}
	slices.SortFunc(conns, func(a, b *Conn) int { return bytes.Compare(a.id[:], b.id[:]) })
	now := h.cfg.Now().UnixNano()
	maxLinger := int64(h.cfg.ConnTimeout / 2)
	var holds, releases []connMark
	var held, released, done []*Conn
	var relDP []*connDP // the holder state each release's cursor came from
	for _, c := range conns {
		c.mu.Lock()
		switch {
		case c.closed:
			done = append(done, c)
		case c.session != nil && !final:
			if c.announced != announcedHeld {
				holds = append(holds, connMark{ID: c.ID(), At: c.session.attachedAt})
				held = append(held, c)
				c.announced = announcedHeld
			}
		default:
			left := c.left
			if left == 0 || c.session != nil {
				left = now // still attached as the node stops, or ended by the hub
				c.left = left
			}
			// A connection whose hold was never announced (a transport
			// that left before its hold went out) is released all the
			// same when this node holds its queue (data-plane mode) or
			// handed frames over: the release carries the cursor or the
			// position the next transport starts from.
			if c.announced == announcedNone && c.dp == nil && c.sent == 0 {
				done = append(done, c)
			} else if final || now-left >= min(int64(c.linger), maxLinger) {
				m := connMark{ID: c.ID(), At: left, Sent: c.sent}
				if c.dp != nil {
					m.Cursor = c.cursorLocked().String()
				}
				releases = append(releases, m)
				released = append(released, c)
				var from *connDP
				if c.dp != nil && c.dp.since <= left {
					from = c.dp // not an attachment's begun since
				}
				relDP = append(relDP, from)
				c.announced = announcedNone
			}
		}
		c.mu.Unlock()
	}
	r.forgetLocal(done)
	h.appendMarks(opHold, holds, held)
	if !h.appendMarks(opRelease, releases, released) {
		return
	}
	var gone []*Conn
	for i, c := range released {
		c.mu.Lock()
		var held *connDP
		if c.announced == announcedNone && c.session == nil {
			gone = append(gone, c)
			// Only the state the release was made from: one that an
			// attachment began while the entry was appended is that
			// attachment's (it announces its hold once attached).
			if c.dp != nil && c.dp == relDP[i] {
				// Until the release comes back through the log, a
				// transport that attaches here again starts from it.
				c.keepRelLocked(c.cursorLocked())
				// A queue with frames no transport took (a client cut
				// as slow, or gone while behind) stays, and keeps
				// queueing, until a transport attaches here again,
				// another node holds the connection (applyHold) or it
				// is collected: as on one node, its client then loses
				// only what the queue's bound evicts, announced by a
				// gap naming those seqs. Read again from the streams
				// instead, it could lose more, and uncounted: entries
				// a backend that came back empty no longer has.
				if c.pendingLocked() == 0 {
					held = h.takeHeldLocked(c)
				}
			}
		}
		c.mu.Unlock()
		h.unhold(held, false)
	}
	r.forgetLocal(gone)
}

// forgetLocal drops conns from the local set, unless one was marked dirty again
// meanwhile (a transport attached).
func (r *replicator) forgetLocal(conns []*Conn) {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	for _, c := range conns {
		if _, again := r.dirty[c]; !again {
			delete(r.local, c)
		}
	}
}

// appendMarks appends one hold or release entry; when the append fails,
// the connections' announcements are unknown and are made again at the
// next beat (they stay in the local set). It reports whether the entry was
// appended.
func (h *Hub) appendMarks(kind string, marks []connMark, conns []*Conn) bool {
	if len(marks) == 0 {
		return true
	}
	if h.appendAsync(op{Kind: kind, Marks: marks}) {
		return true
	}
	for _, c := range conns {
		c.mu.Lock()
		c.announced = announcedUnknown
		c.mu.Unlock()
	}
	return false
}

// redoMarks makes this node announce again every hold and release it
// owes, after its log was reset (a Redis restarted empty): the entries it
// appended to the old log and had not read yet are gone, applied by no
// node. A release lost so would leave this node the holder of a
// connection nobody serves, kept alive by its leases for ever; a hold
// lost so would let the cluster collect a connection whose transport is
// attached here. Follow calls it (through onErr) between two entries, so
// the holders it reads are those of the old log's last entry applied;
// holds and releases appended to the new log meanwhile are merely
// repeated, which changes nothing.
func (h *Hub) redoMarks() {
	r := h.repl
	r.lmu.Lock()
	local := make([]*Conn, 0, len(r.local))
	for c := range r.local {
		local = append(local, c)
	}
	r.lmu.Unlock()
	for _, c := range local {
		c.mu.Lock()
		if c.announced == announcedHeld {
			c.announced = announcedUnknown
		}
		c.mu.Unlock()
		r.markDirty(c)
	}
	h.adoptHeld()
}

// adoptHeld makes this node release, at its next beat, the connections the
// log says it holds but that no transport of this process serves (a node
// restarted with the same NodeID, or a release lost with a reset log).
func (h *Hub) adoptHeld() {
	h.mu.RLock()
	var mine []*Conn
	for _, c := range h.conns {
		if c.holderNode() == h.repl.node {
			mine = append(mine, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range mine {
		c.mu.Lock()
		c.localLocked(h.queueLimits())
		if c.session == nil && c.announced == announcedNone {
			c.announced = announcedUnknown
		}
		c.mu.Unlock()
		h.repl.markDirty(c)
	}
}
