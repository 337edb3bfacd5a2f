package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Attach in data-plane mode. The node that a transport attaches to becomes
// the connection's holder: it allocates the holder state, indexes the
// connection under its streams (live entries for it wait in a buffer),
// takes a Subscriber reference per stream, reads each stream from where
// the client is, and queues what it read, then the buffered live entries
// that came after; from then on, live entries go straight to the queue.
//
// Where the client is: the cursor it sent (AttachOptions.Cursor, exact);
// else the cursor of the connection's last release (a transport detached
// from some node, which handed its position over in the log); else the
// join points (the connection was never attached). Seq numbers continue
// from that cursor's Seq. A client that sent only a last_seq older than
// the release cursor is told of the frames in between as a gap (they
// were handed out by another node); one that sent a last_seq newer than
// anything known (its node died before releasing) starts from now, after
// a gap frame.

// errNotRunning is the error of an attachment before Run started (or
// after it ended) on a data-plane hub.
var errNotRunning = fmt.Errorf("hub not running: %w", ErrUnavailable)

// prepareHeld makes this node hold c with its queue caught up, unless it
// already holds it with a queue that covers where the client resumes. It
// sets opts so that the session starts after the catch-up's starting
// seq. now is when the attachment began (unix ns).
func (h *Hub) prepareHeld(c *Conn, opts *AttachOptions, now int64) error {
	var cur *Cursor
	if opts.Resume && opts.Cursor != "" {
		if parsed, err := ParseCursor(opts.Cursor); err == nil {
			cur = &parsed
			opts.LastSeq = parsed.Seq
		}
	}
	c.mu.Lock()
	reuse := c.dp != nil && (!opts.Resume || opts.LastSeq <= c.nextSeq-1)
	newer := c.connLocal != nil && c.session != nil && c.session.attachedAt > now
	c.mu.Unlock()
	if newer {
		return fmt.Errorf("attach %q: %w", c.id, errSuperseded) // its state is not ours to drop
	}
	if reuse {
		return nil
	}
	h.dropHeld(c, false)
	if cur == nil {
		h.awaitRelease(c)
	}

	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ReplicateTimeout)
	defer cancel()
	c.mu.Lock()
	start, gapFirst := c.startLocked(cur, *opts)
	c.mu.Unlock()
	if gapFirst {
		// Past anything handed over: from the streams' heads (a
		// stream subscribed meanwhile starts at its join point, later).
		h.mu.RLock()
		streams := c.streamsLocked()
		h.mu.RUnlock()
		heads, err := h.dp.Heads(ctx, streams)
		if err != nil {
			h.stats.BrokerErrors.Add(1)
			return fmt.Errorf("attach %q: %w", c.ID(), asUnavailable(err))
		}
		for _, p := range heads {
			start.Pos = setPos(start.Pos, p)
		}
	}
	// The streams as the state is installed, under Hub.mu: a subscribe
	// applied before is in them, one applied after finds the state
	// (streamsAdded).
	h.mu.RLock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		h.mu.RUnlock()
		return ErrUnknownConn
	}
	streams, joins := c.streamsLocked(), c.joinListLocked(h.dp)
	// d.streams is its own: subscribes and unsubscribes change it in
	// place while this attachment goes on with streams.
	d := &connDP{streams: slices.Clone(streams), qpos: slices.Clone(start.Pos), spos: slices.Clone(start.Pos),
		catching: make(map[Stream][]heldEntry, len(streams)), since: now, pending: slices.Clone(streams)}
	for _, s := range streams {
		d.catching[s] = nil
	}
	c.dp = d
	c.localLocked(h.queueLimits())
	c.queue.reset()
	c.qBytes = 0
	c.nextSeq, c.sent = start.Seq+1, start.Seq
	if gapFirst {
		h.enqueueGapLocked(c)
	}
	h.dpn.index(c, streams)
	c.mu.Unlock()
	h.mu.RUnlock()
	if opts.Resume {
		opts.LastSeq = min(opts.LastSeq, start.Seq)
	} else {
		opts.Resume, opts.LastSeq = true, start.Seq
	}

	err := h.dpn.addRefs(ctx, streams)
	c.mu.Lock()
	back := c.settleRefsLocked(d, streams, err == nil)
	mine, closed := c.dp == d, c.closed
	if err != nil && mine {
		// No references to drop: the Add took none, and those of
		// streams added meanwhile are left to their Adds.
		c.dp = nil
		h.dpn.unindex(c, d.streams)
	}
	c.mu.Unlock()
	h.dpn.dropRefs(back)
	if err != nil {
		h.stats.BrokerErrors.Add(1)
		return fmt.Errorf("attach %q: %w", c.ID(), asUnavailable(err))
	}
	if !mine {
		return lostWhileCatchingUp(c, closed)
	}
	streams = without(streams, back) // unsubscribed meanwhile
	after := func(s Stream) Pos {
		j, _ := joinOf(joins, s)
		if p, ok := start.At(h.dp.Partition(s)); ok && (p.Epoch != j.Epoch || p.N > j.N) {
			return p
		}
		return j
	}
	read, err := h.readStreams(ctx, streams, after)
	if err != nil {
		c.mu.Lock()
		if c.dp != d {
			d = nil // replaced meanwhile: not ours to drop
		} else {
			h.takeHeldLocked(c)
		}
		c.mu.Unlock()
		h.unhold(d, false)
		h.stats.BrokerErrors.Add(1)
		return fmt.Errorf("attach %q: %w", c.ID(), asUnavailable(err))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dp != d {
		return lostWhileCatchingUp(c, c.closed)
	}
	h.finishCatchupLocked(c, read, streams, deliverRead)
	return nil
}

// lostWhileCatchingUp is the error of an attachment whose held state was
// taken while it caught up: ErrUnknownConn when the connection is gone
// (disconnected or collected: a long-poll then answers 401), else an
// ErrUnavailable (another attachment replaced it).
func lostWhileCatchingUp(c *Conn, closed bool) error {
	if closed {
		return ErrUnknownConn
	}
	return fmt.Errorf("attach %q: replaced while catching up: %w", c.ID(), ErrUnavailable)
}

// awaitRelease catches up with the log once when another node holds c:
// its release, which says where the client is, may be on its way (the
// client left it an instant ago).
func (h *Hub) awaitRelease(c *Conn) {
	h.mu.RLock()
	other := c.holderNode() != "" && c.holderNode() != h.repl.node
	h.mu.RUnlock()
	if !other {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ReplicateTimeout)
	defer cancel()
	_ = h.repl.lookups.wait(ctx, h) // on failure, start from what is known
}

func asUnavailable(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// streamsLocked returns c's streams (its channels, sorted, then its
// user's). Caller holds Hub.mu.
func (c *Conn) streamsLocked() []Stream {
	names := c.channelNames()
	streams := make([]Stream, 0, len(names)+1)
	for _, n := range names {
		streams = append(streams, Stream{Kind: ChannelStream, Name: n})
	}
	return append(streams, Stream{Kind: UserStream, Name: c.user.name})
}

// startLocked chooses the cursor a new holder starts c from (see above),
// and whether the queue starts with a gap frame: then the caller fills
// its positions with the streams' heads (from now). Caller holds c.mu.
func (c *Conn) startLocked(cur *Cursor, opts AttachOptions) (Cursor, bool) {
	if cur != nil {
		return *cur, false
	}
	var base Cursor
	if c.rel != nil {
		base = *c.rel
	}
	if !opts.Resume || opts.LastSeq <= base.Seq {
		// Older: the frames in between come as Next's gap object.
		return base, false
	}
	// The client has frames nobody handed over in the log (their node
	// died): start from now.
	return Cursor{Seq: opts.LastSeq}, true
}

// catchup is what readStreams read: per partition, the entries up to the
// head of the partition's first read, in N order.
type catchup struct {
	parts []partCatchup
}

type partCatchup struct {
	head    Pos
	gap     bool // a read said Trimmed or Reset
	entries []StreamEntry
}

// readStreams reads every stream after after(stream), grouped by
// partition (DataPlane's contract for merging reads of one partition).
// The caller holds Subscriber references to every stream already.
func (h *Hub) readStreams(ctx context.Context, streams []Stream, after func(Stream) Pos) (catchup, error) {
	byPart := map[int][]Stream{}
	for _, s := range streams {
		k := h.dp.Partition(s)
		byPart[k] = append(byPart[k], s)
	}
	var out catchup
	for _, k := range slices.Sorted(maps.Keys(byPart)) {
		pc := partCatchup{}
		for i, s := range byPart[k] {
			res, err := h.dp.Read(ctx, s, after(s), 0)
			if err != nil {
				return catchup{}, fmt.Errorf("read %v: %w", s, err)
			}
			if i == 0 {
				pc.head = res.Head
			}
			pc.gap = pc.gap || res.Trimmed || res.Reset
			for _, e := range res.Entries {
				if e.Pos.Epoch == pc.head.Epoch && e.Pos.N <= pc.head.N {
					pc.entries = append(pc.entries, e)
				}
			}
		}
		slices.SortStableFunc(pc.entries, func(a, b StreamEntry) int { return cmp.Compare(a.Pos.N, b.Pos.N) })
		out.parts = append(out.parts, pc)
	}
	return out, nil
}

// readEntry is an entry a catch-up read, decoded.
type readEntry struct {
	e    StreamEntry
	f    dpFrame
	mode deliverMode
}

// earliest returns the index of the list whose first entry was published
// first (by the origin's clock; -1 when every list is empty): merging the
// partitions' lists so, each in its N order, queues what one node
// published across streams in the order it published it.
func earliest(lists [][]readEntry) int {
	best := -1
	for i, l := range lists {
		if len(l) > 0 && (best < 0 || l[0].f.frame.born < lists[best][0].f.frame.born) {
			best = i
		}
	}
	return best
}

// finishCatchupLocked queues what a catch-up read, then the live entries
// of streams that arrived meanwhile and come after it, and ends the
// streams' catching; the parked live entries of other streams of the
// partitions it read go with the read's entries in N order. Caller holds
// c.mu.
func (h *Hub) finishCatchupLocked(c *Conn, read catchup, streams []Stream, mode deliverMode) {
	d := c.dp
	heads := map[int]Pos{}
	for _, pc := range read.parts {
		heads[pc.head.Partition] = pc.head
	}
	// The parked entries the read's heads cover, in partitions where no
	// other stream is being caught up, go with the read's entries.
	var parkedRead []heldEntry
	keep := d.parked[:0]
	for _, b := range d.parked {
		k := b.e.Pos.Partition
		if hd, ok := heads[k]; ok && b.e.Pos.Epoch == hd.Epoch && b.e.Pos.N <= hd.N && !h.catchingInLocked(d, k, streams) {
			parkedRead = append(parkedRead, b)
		} else {
			keep = append(keep, b)
		}
	}
	clear(d.parked[len(keep):])
	d.parked = keep
	lists := make([][]readEntry, len(read.parts))
	for i, pc := range read.parts {
		if pc.gap {
			h.enqueueGapLocked(c)
		}
		for _, e := range pc.entries {
			if !slices.Contains(d.streams, e.Stream) {
				continue // unsubscribed meanwhile
			}
			f, err := h.frameOf(e)
			if err != nil {
				h.log.Error().Err(err).Msg("skipping a data plane entry")
				continue
			}
			lists[i] = append(lists[i], readEntry{e: e, f: f, mode: mode})
		}
		for _, b := range parkedRead {
			if b.e.Pos.Partition == pc.head.Partition {
				lists[i] = append(lists[i], readEntry{e: b.e, f: *b.f, mode: deliverHeld})
			}
		}
		slices.SortStableFunc(lists[i], func(a, b readEntry) int { return cmp.Compare(a.e.Pos.N, b.e.Pos.N) })
	}
	for {
		next := earliest(lists)
		if next < 0 {
			break
		}
		r := lists[next][0]
		lists[next] = lists[next][1:]
		h.deliverLocked(c, r.e, &r.f, r.mode)
	}
	if mode == deliverRead {
		for _, pc := range read.parts {
			if q, ok := posAt(d.qpos, pc.head.Partition); !ok || posAfter(pc.head, q) {
				d.qpos = setPos(d.qpos, pc.head)
			}
		}
	}
	if mode == deliverReplay {
		// The positions stayed: the live copies of what the read
		// queued may still come.
		for _, s := range streams {
			if hd, ok := heads[h.dp.Partition(s)]; ok {
				d.dropReplayLocked(s)
				d.replays = append(d.replays, streamJoin{Kind: s.Kind, Name: s.Name, P: hd.Partition, N: hd.N, E: hd.Epoch})
			}
		}
	}
	// The buffered entries of every stream in the order they came (the
	// partitions' order): stream by stream, the positions the first
	// stream's entries move would make the others' look delivered.
	var buf []heldEntry
	for _, s := range streams {
		if b, ok := d.catching[s]; ok {
			delete(d.catching, s)
			buf = append(buf, b...)
		}
	}
	h.unparkLocked(c, buf, heads)
}

// unparkLocked queues, in the order they came, the buffered entries of
// streams whose catch-up just ended (buf: those the read had, at or
// before its head in heads, are skipped) and the parked entries whose
// partition no longer has a stream being caught up. Caller holds c.mu.
func (h *Hub) unparkLocked(c *Conn, buf []heldEntry, heads map[int]Pos) {
	d := c.dp
	var take []heldEntry
	for _, b := range buf {
		if hd, ok := heads[b.e.Pos.Partition]; ok && b.e.Pos.Epoch == hd.Epoch && b.e.Pos.N <= hd.N {
			continue // the read had it
		}
		take = append(take, b)
	}
	keep := d.parked[:0]
	for _, b := range d.parked {
		if h.catchingInLocked(d, b.e.Pos.Partition, nil) {
			keep = append(keep, b)
		} else {
			take = append(take, b)
		}
	}
	clear(d.parked[len(keep):])
	d.parked = keep
	if len(d.parked) == 0 {
		d.parked = nil
	}
	slices.SortFunc(take, func(a, b heldEntry) int { return cmp.Compare(a.n, b.n) })
	if d.heldLost {
		d.heldLost = false
		h.enqueueGapLocked(c)
	}
	for _, b := range take {
		h.deliverLocked(c, b.e, b.f, deliverHeld)
	}
	if len(d.catching) == 0 {
		d.catching = nil
	}
}

// replayStreams is the worker's part of streamsAdded: it takes the new
// streams' references and queues what they carried since their join
// points that c does not have (see deliverReplay); a stream it cannot
// follow is dropped with a gap frame.
func (h *Hub) replayStreams(c *Conn, d *connDP, streams []Stream) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ReplicateTimeout)
	defer cancel()
	err := h.dpn.addRefs(ctx, streams)
	c.mu.Lock()
	back := c.settleRefsLocked(d, streams, err == nil)
	c.mu.Unlock()
	h.dpn.dropRefs(back)
	streams = without(streams, back) // no longer followed
	if len(streams) == 0 {
		return
	}
	reffed := err == nil
	var read catchup
	if err == nil {
		c.mu.Lock()
		joins := c.joinListLocked(h.dp)
		c.mu.Unlock()
		read, err = h.readStreams(ctx, streams, func(s Stream) Pos { j, _ := joinOf(joins, s); return j })
	}
	c.mu.Lock()
	if c.dp != d {
		c.mu.Unlock()
		return // whoever took d dropped the references
	}
	if err == nil {
		h.finishCatchupLocked(c, read, streams, deliverReplay)
		c.mu.Unlock()
		return
	}
	h.stats.BrokerErrors.Add(1)
	h.log.Warn().Err(err).Str("conn_id", c.ID()).Msg("following a subscribed stream failed")
	for _, s := range streams {
		delete(d.catching, s)
		d.streams = slices.DeleteFunc(d.streams, func(t Stream) bool { return t == s })
	}
	h.enqueueGapLocked(c)
	h.unparkLocked(c, nil, nil)
	h.dpn.unindex(c, streams)
	c.mu.Unlock()
	if reffed {
		h.dpn.dropRefs(streams)
	}
}

// without returns streams less those in drop.
func without(streams, drop []Stream) []Stream {
	if len(drop) == 0 {
		return streams
	}
	return slices.DeleteFunc(slices.Clone(streams), func(s Stream) bool { return slices.Contains(drop, s) })
}
