package core

import (
	"slices"
)

// Holder state. In data-plane mode every node knows every connection (the
// log's small metadata: user, channels, join points, the last release's
// cursor), but only the node that holds it (its transport attached here,
// or lingering, lease.go) keeps a queue, a seq and a session, and takes
// Subscriber references for its streams. The state is allocated when a
// transport attaches (dataplane_attach.go) and freed when the node
// releases the connection, another node takes it, or it is removed.

// connDP is a held connection's data-plane state; guarded by Conn.mu.
type connDP struct {
	// streams are the streams the connection is indexed under here (one
	// Subscriber reference each).
	streams []Stream
	// qpos is, per partition (sorted by partition), the position of the
	// newest entry queued or skipped; spos the position the cursor gives:
	// as of the last frame handed to a transport.
	qpos, spos []Pos
	// catching holds, per stream being caught up, the live entries that
	// arrived meanwhile (a key with a nil list: catching, none yet), at
	// most a queue's worth (the oldest beyond, which the queue would
	// evict anyway, are dropped and heldLost set: the catch-up that ends
	// next queues a gap frame first); arrived numbers them across
	// streams, in the order they came.
	catching map[Stream][]heldEntry
	arrived  uint64
	heldLost bool
	// parked are the live entries of streams not being caught up whose
	// partition has a stream that is (subscribed while held), in the
	// order they came, at most a queue's worth (heldLost as above): were
	// they queued at once, a cursor handed out before the catch-up
	// queued the new stream's earlier entries would name a position past
	// them (Cursor has one position per partition), and a resume from it
	// elsewhere would skip them. finishCatchupLocked queues them in N
	// order with what the catch-up read.
	parked []heldEntry
	// gapSeq is the seq of the newest gap frame queued (0: none).
	gapSeq uint64
	// replays are, per stream subscribed while held, the head its read
	// went up to: live copies of the entries it queued that come after
	// it are skipped, until the first live entry past it.
	replays []streamJoin
	// since is when the attachment that made this state began (unix ns,
	// the session's attachedAt): a hold another node announced before it
	// does not take the state away while it catches up (lease.go).
	since int64
	// pending are the streams whose Subscriber references an Add is
	// still taking (prepareHeld, replayStreams): whoever takes the state
	// or removes such a stream meanwhile leaves their references to that
	// Add's caller (settleRefsLocked), which gives back what is no longer
	// followed. drop, set when the state is taken, are the streams whose
	// references the taker drops.
	pending, drop []Stream
}

// heldEntry is a live entry waiting for a catch-up to finish; n is its
// arrival number (connDP.arrived).
type heldEntry struct {
	e StreamEntry
	f *dpFrame
	n uint64
}

// streamJoin is a stream's join point in a connect or subscribe op and in
// a snapshot: its entries at or before it (same epoch) are never delivered
// to the connection. The connection keeps it as a connJoin.
type streamJoin struct {
	Name string     `json:"s"`
	P    int        `json:"p"`
	N    uint64     `json:"n"`
	E    uint32     `json:"e"`
	Kind StreamKind `json:"k,omitempty"`
}

func (j streamJoin) stream() Stream { return Stream{Kind: j.Kind, Name: j.Name} }
func (j streamJoin) pos() Pos       { return Pos{Partition: j.P, N: j.N, Epoch: j.E} }

// joinOf returns s's join point in list.
func joinOf(list []streamJoin, s Stream) (Pos, bool) {
	for _, j := range list {
		if j.Name == s.Name && j.Kind == s.Kind {
			return j.pos(), true
		}
	}
	return Pos{}, false
}

// connJoin is a stream's join point as a connection keeps it: a
// streamJoin without the partition, which the stream gives (PartitionOf).
// 32 bytes, not 40: every node keeps one per stream of every connection.
type connJoin struct {
	Name string
	N    uint64
	E    uint32
	Kind StreamKind
}

// joinAtLocked returns s's join point, s being in partition part. Caller
// holds c.mu.
func (c *Conn) joinAtLocked(s Stream, part int) (Pos, bool) {
	for _, j := range c.joins {
		if j.Name == s.Name && j.Kind == s.Kind {
			return Pos{Partition: part, N: j.N, Epoch: j.E}, true
		}
	}
	return Pos{}, false
}

// joinListLocked returns a copy of c's join points with their partitions
// among dp's (nil when it has none). Caller holds c.mu.
func (c *Conn) joinListLocked(dp DataPlane) []streamJoin {
	if len(c.joins) == 0 {
		return nil
	}
	out := make([]streamJoin, len(c.joins))
	for i, j := range c.joins {
		out[i] = streamJoin{Name: j.Name, N: j.N, E: j.E, Kind: j.Kind, P: dp.Partition(Stream{Kind: j.Kind, Name: j.Name})}
	}
	return out
}

// setJoinsLocked makes list (a snapshot's) c's join points. Caller holds
// c.mu or is the only one to know c.
func (c *Conn) setJoinsLocked(list []streamJoin) {
	c.joins = nil
	for _, j := range list {
		c.appendJoinLocked(j, len(list))
	}
}

// appendJoinLocked adds j, in a list of room join points at most.
func (c *Conn) appendJoinLocked(j streamJoin, room int) {
	if c.joins == nil {
		c.joins = make([]connJoin, 0, room)
	}
	c.joins = append(c.joins, connJoin{Name: j.Name, N: j.N, E: j.E, Kind: j.Kind})
}

// addJoinLocked records s's join point from an op's joins unless the
// connection has one. The join keeps s.Name (the channel's or the user's
// own name), not the op's copy. Caller holds c.mu.
func (c *Conn) addJoinLocked(s Stream, from []streamJoin) {
	if _, ok := c.joinAtLocked(s, 0); ok {
		return
	}
	for _, j := range from {
		if j.Name == s.Name && j.Kind == s.Kind {
			j.Name = s.Name
			c.appendJoinLocked(j, len(from)) // the op's other streams follow
			return
		}
	}
}

// dropJoinLocked forgets s's join point. Caller holds c.mu.
func (c *Conn) dropJoinLocked(s Stream) {
	c.joins = slices.DeleteFunc(c.joins, func(j connJoin) bool { return j.Name == s.Name && j.Kind == s.Kind })
}

// posAt returns list's position in partition p.
func posAt(list []Pos, p int) (Pos, bool) {
	i, ok := slices.BinarySearchFunc(list, p, func(x Pos, p int) int { return x.Partition - p })
	if !ok {
		return Pos{}, false
	}
	return list[i], true
}

// setPos returns list with p's partition at p.
func setPos(list []Pos, p Pos) []Pos {
	i, ok := slices.BinarySearchFunc(list, p.Partition, func(x Pos, k int) int { return x.Partition - k })
	if ok {
		list[i] = p
		return list
	}
	return slices.Insert(list, i, p)
}

// posAfter reports whether p comes after q (another epoch counts as after).
func posAfter(p, q Pos) bool { return p.Epoch != q.Epoch || p.N > q.N }

// How deliverLocked treats an entry.
type deliverMode uint8

const (
	// deliverLive: from the Subscriber; buffered while its stream is
	// caught up.
	deliverLive deliverMode = iota
	// deliverRead: from an attachment's catch-up read (in N order per
	// partition, from the connection's start positions).
	deliverRead
	// deliverReplay: a stream subscribed while held, read after the
	// fact: queued if new, but the positions (the cursor) do not move,
	// so that live entries of the partition still on their way are not
	// taken for duplicates.
	deliverReplay
	// deliverHeld: a live entry buffered while its stream was caught up,
	// that the read did not have: never queued before, even when other
	// streams of its partition moved the position past it meanwhile.
	deliverHeld
)

// deliverLocked queues e's frame on the held connection c unless c
// already had it (live and read entries, by its partition position), it
// is at or before the stream's join point, or its filters leave c's user
// out; a Gap entry is preceded by a gap frame. A reset mark (N 0, f nil)
// goes to markResetLocked. It reports whether the queue ended a slow
// session. Caller holds c.mu.
func (h *Hub) deliverLocked(c *Conn, e StreamEntry, f *dpFrame, mode deliverMode) (slow bool) {
	d := c.dp
	if d == nil || c.closed {
		return false
	}
	if mode == deliverLive && d.catching != nil {
		if buf, ok := d.catching[e.Stream]; ok {
			d.catching[e.Stream] = d.holdLocked(buf, e, f, c.limits.frames)
			return false
		}
		if h.catchingInLocked(d, e.Pos.Partition, nil) {
			d.parked = d.holdLocked(d.parked, e, f, c.limits.frames)
			return false
		}
	}
	if e.Pos.N == 0 {
		return h.markResetLocked(c, e)
	}
	p := e.Pos
	if mode == deliverLive || mode == deliverRead {
		if q, ok := posAt(d.qpos, p.Partition); ok && !posAfter(p, q) {
			return false
		}
	}
	advance := mode != deliverReplay
	if advance {
		defer func() {
			if q, ok := posAt(d.qpos, p.Partition); !ok || posAfter(p, q) {
				d.qpos = setPos(d.qpos, p)
			}
		}()
	}
	if mode == deliverLive && d.replayedLocked(e) {
		return false
	}
	if j, ok := c.joinAtLocked(e.Stream, p.Partition); ok && !posAfter(p, j) {
		return false
	}
	if e.Gap {
		slow = h.enqueueGapLocked(c)
	}
	if !f.accepts(c.user.name) {
		return slow
	}
	frame := f.frame
	if !advance {
		frame = newFrame(frame.Body(), frame.liveCatchup, frame.born)
	}
	queued, s, dropped := c.enqueueLocked(frame)
	if queued && f.counted {
		h.stats.TotalMessages.Add(1)
	}
	if dropped > 0 {
		h.stats.FramesDropped.Add(int64(dropped))
	}
	return slow || s
}

// holdLocked returns buf with the live entry e added, and its oldest
// entry dropped (heldLost set) when it holds limit already. Caller holds
// Conn.mu.
func (d *connDP) holdLocked(buf []heldEntry, e StreamEntry, f *dpFrame, limit int) []heldEntry {
	if len(buf) >= limit {
		buf[0] = heldEntry{}
		buf, d.heldLost = buf[1:], true
	}
	d.arrived++
	return append(buf, heldEntry{e: e, f: f, n: d.arrived})
}

// catchingInLocked reports whether a stream of partition k other than
// those in except is being caught up on d. Caller holds Conn.mu.
func (h *Hub) catchingInLocked(d *connDP, k int, except []Stream) bool {
	for s := range d.catching {
		if h.dp.Partition(s) == k && !slices.Contains(except, s) {
			return true
		}
	}
	return false
}

// markResetLocked handles m, a reset mark of c's stream: the partition
// restarted in epoch m.Pos.Epoch and entries before it may be lost.
// Unless c's position in the partition is in that epoch already (an entry
// of it came, with its own gap frame, or c started there) or the stream's
// join point is (c never followed the lost epoch), c gets a gap frame and
// its position moves to the epoch's start, so that its cursor no longer
// names the lost epoch (a resume would announce the loss again). Caller
// holds c.mu.
func (h *Hub) markResetLocked(c *Conn, m StreamEntry) (slow bool) {
	d, at := c.dp, m.Pos
	if q, ok := posAt(d.qpos, at.Partition); ok && q.Epoch == at.Epoch {
		return false
	}
	if j, ok := c.joinAtLocked(m.Stream, at.Partition); ok && j.Epoch == at.Epoch {
		return false
	}
	slow = h.enqueueGapLocked(c)
	d.qpos = setPos(d.qpos, at)
	return slow
}

// replayedLocked reports whether e, a live entry, is one a replay read
// queued already; the first one past that read forgets it. Caller holds
// Conn.mu.
func (d *connDP) replayedLocked(e StreamEntry) bool {
	j, ok := joinOf(d.replays, e.Stream)
	if !ok {
		return false
	}
	if !posAfter(e.Pos, j) {
		return true
	}
	d.dropReplayLocked(e.Stream)
	return false
}

// dropReplayLocked forgets s's replay head. Caller holds Conn.mu.
func (d *connDP) dropReplayLocked(s Stream) {
	d.replays = slices.DeleteFunc(d.replays, func(j streamJoin) bool { return j.stream() == s })
}

// enqueueGapLocked queues a gap frame: {"type":"gap","from_seq":s,
// "to_seq":s} with its own seq s, telling the client that entries of its
// streams were lost (trimmed by retention, or gone with the backend's
// data) and that it may reload the history. When the newest frame queued
// is a gap frame no transport has taken yet, it tells of this loss too:
// nothing is queued (one reset reaches a connection through each of its
// partitions). Caller holds c.mu.
func (h *Hub) enqueueGapLocked(c *Conn) (slow bool) {
	seq := c.nextSeq
	if d := c.dp; d != nil {
		if d.gapSeq != 0 && d.gapSeq == seq-1 && d.gapSeq > c.sent {
			return false
		}
		d.gapSeq = seq
	}
	f := newFrame(appendGap(nil, seq, seq), false, h.since(h.cfg.Now()))
	_, slow, dropped := c.enqueueLocked(f)
	if dropped > 0 {
		h.stats.FramesDropped.Add(int64(dropped))
	}
	return slow
}

// cursorLocked is the cursor at the last frame handed over. Caller holds
// c.mu; c.dp is set.
func (c *Conn) cursorLocked() Cursor {
	return Cursor{Seq: c.sent, Pos: slices.Clone(c.dp.spos)}
}

// keepRelLocked records cur as the connection's release cursor when it is
// newer than the one it has. Caller holds c.mu.
func (c *Conn) keepRelLocked(cur Cursor) {
	if c.rel == nil || cur.Seq >= c.rel.Seq {
		c.rel = &cur
	}
}

// dropHeld frees c's holder state: its queue, its positions and its
// Subscriber references (from the worker when async: the caller is the
// applying goroutine). The session, if any, was ended before.
func (h *Hub) dropHeld(c *Conn, async bool) {
	c.mu.Lock()
	d := h.takeHeldLocked(c)
	c.mu.Unlock()
	h.unhold(d, async)
}

// takeHeldLocked detaches c's holder state, takes c out of the index under
// its streams and frees its queue; the caller passes it to unhold after
// unlocking. The index changes with c.dp, under c.mu: an index entry made
// for the state that replaces it is never undone. Caller holds c.mu.
func (h *Hub) takeHeldLocked(c *Conn) *connDP {
	d := c.dp
	if d != nil {
		c.dp = nil
		h.dpn.unindex(c, d.streams)
		c.queue.reset()
		c.qBytes = 0
		d.drop = notPending(d, d.streams)
	}
	return d
}

// notPending returns those of streams that d has no Add pending for.
func notPending(d *connDP, streams []Stream) []Stream { return without(streams, d.pending) }

// settleRefsLocked ends d's pending Adds of streams (ok: they took their
// references) and returns those whose references the caller must drop
// after unlocking: the streams d no longer follows (taken from c, or
// removed while the Add ran), whose takers left them to it, and those
// another Add still under way takes a reference to (the stream was
// removed and added again meanwhile). Caller holds c.mu.
func (c *Conn) settleRefsLocked(d *connDP, streams []Stream, ok bool) []Stream {
	for _, s := range streams {
		if i := slices.Index(d.pending, s); i >= 0 {
			d.pending = slices.Delete(d.pending, i, i+1)
		}
	}
	if !ok {
		return nil
	}
	if c.dp != d {
		return streams
	}
	var out []Stream
	for _, s := range streams {
		if !slices.Contains(d.streams, s) || slices.Contains(d.pending, s) {
			out = append(out, s)
		}
	}
	return out
}

// unhold drops the references of a state takeHeldLocked took (see
// dropHeld). d may be nil.
func (h *Hub) unhold(d *connDP, async bool) {
	if d == nil {
		return
	}
	gone := d.drop
	if async {
		h.dpn.later(func() { h.dpn.dropRefs(gone) })
	} else {
		h.dpn.dropRefs(gone)
	}
}

// streamsAdded follows, on the holder, streams that an applied connect or
// subscribe added to c: c is indexed under them at once (their live
// entries wait while they are caught up), and the worker takes their
// references and reads what they carried since their join points. Called
// by the applying goroutine without locks.
func (h *Hub) streamsAdded(c *Conn, added []Stream) {
	c.mu.Lock()
	d := c.dp
	var fresh []Stream
	if d != nil {
		for _, s := range added {
			if !slices.Contains(d.streams, s) {
				d.streams = append(d.streams, s)
				if d.catching == nil {
					d.catching = map[Stream][]heldEntry{}
				}
				d.catching[s] = nil
				d.pending = append(d.pending, s)
				fresh = append(fresh, s)
			}
		}
		h.dpn.index(c, fresh)
	}
	c.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	h.dpn.later(func() { h.replayStreams(c, d, fresh) })
}

// streamsRemoved stops following, on the holder, streams that an applied
// unsubscribe took from c. Called by the applying goroutine.
func (h *Hub) streamsRemoved(c *Conn, removed []Stream) {
	c.mu.Lock()
	d := c.dp
	var gone []Stream
	if d != nil {
		for _, s := range removed {
			if i := slices.Index(d.streams, s); i >= 0 {
				d.streams = slices.Delete(d.streams, i, i+1)
				delete(d.catching, s)
				d.dropReplayLocked(s)
				gone = append(gone, s)
			}
		}
	}
	var drop []Stream
	if d != nil {
		h.unparkLocked(c, nil, nil)
		drop = notPending(d, gone)
		h.dpn.unindex(c, gone)
	}
	c.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	h.dpn.later(func() { h.dpn.dropRefs(drop) })
}

// joinLocked records s's join point from an op's joins (unless c has one)
// and returns s. Caller holds Hub.mu for writing.
func (c *Conn) joinLocked(s Stream, joins []streamJoin) Stream {
	if joins != nil {
		c.mu.Lock()
		c.addJoinLocked(s, joins)
		c.mu.Unlock()
	}
	return s
}

// leaveStreams forgets the join points of the channels c left and returns
// their streams. Caller holds Hub.mu for writing.
func (c *Conn) leaveStreams(channels []string) []Stream {
	out := make([]Stream, 0, len(channels))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range channels {
		s := Stream{Kind: ChannelStream, Name: name}
		c.dropJoinLocked(s)
		out = append(out, s)
	}
	return out
}
