package core

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// AttachOptions say how a transport attaches to a connection.
type AttachOptions struct {
	// Transport names the transport ("websocket", "sse", "longpoll") for logs.
	Transport string
	// Resume, when true, asks for every frame after LastSeq, and
	// acknowledges every frame up to LastSeq. Without it the session starts
	// after the last frame handed to any earlier transport.
	Resume  bool
	LastSeq uint64
	// Cursor, with Resume, is the resume cursor the client last received
	// (see Cursor): on a hub with a DataPlane it resumes exactly after
	// that frame on any node; elsewhere only its Seq counts. A transport
	// passes it as the client sent it, after ParseCursor accepted it, and
	// sets LastSeq to its Seq.
	Cursor string
	// Linger, in a cluster, is how long this node keeps holding the
	// connection after the session detaches, so that a transport that
	// attaches again soon (long-poll's next poll) costs no log entry; at
	// most half of Config.ConnTimeout. Default 0: the node releases the
	// connection at once.
	Linger time.Duration
}

// Session is one transport's attachment to a connection. One goroutine at
// a time, the transport's writer, should call Next and Written (with
// Notify, the transport's goroutines take turns under a lock of its own).
type Session struct {
	conn   *Conn
	hub    *Hub
	opts   AttachOptions
	cursor uint64 // last seq handed to this session; guarded by conn.mu
	// live is the first seq queued while this session was attached. Losing
	// older (catchup) frames only makes a gap; losing a live one it has
	// not taken makes it slow.
	live  uint64
	wakeC chan struct{}
	// notify, when set (Notify), is called instead of signalling wakeC;
	// guarded by conn.mu.
	notify func()
	// ended is set as doneC closes; next to notify, which the hub reads
	// right before calling it, so that the function can tell its last
	// call from the others without reading the channel's memory.
	ended atomic.Bool
	doneC chan struct{}
	// attachedAt is when the session attached, unix nanoseconds.
	attachedAt int64

	endOnce sync.Once
	reason  Disconnect // written before doneC closes

	// The list the last Next returned, for Written; only the writer
	// goroutine touches these. born holds the frames' birth times
	// (Frame.born) and is filled only when Config.ObserveWrite is set.
	taken int
	born  []int64
}

// keepBorn is the largest born slice a session keeps between batches: a
// big catch-up batch must not pin its memory on an idle session.
const keepBorn = 64

// Attach attaches a transport to the connection connID, replacing (and
// ending with DisconnectReplaced) any transport attached before, unless
// that one's Attach began after this one's: then it fails with an error
// wrapping ErrUnavailable (the client left this attempt for the newer).
func (h *Hub) Attach(connID string, opts AttachOptions) (*Session, error) {
	if h.draining.Load() {
		return nil, ErrDraining
	}
	c := h.lookupConn(connID)
	if c == nil {
		return nil, ErrUnknownConn
	}
	now := h.cfg.Now()
	if h.dp != nil {
		return h.attachHeld(c, opts, now)
	}
	if h.repl != nil && opts.Resume && opts.LastSeq > c.lastSeq() {
		// The client has frames this node has not applied yet (it read
		// them through another node, or through this one before a
		// restart that loaded an older snapshot): catch up first, or the
		// resume point would be clamped to what this node has, and the
		// frames in between sent again (found by the Redis soak: a
		// restarted node re-sent ~8 frames to every resuming socket).
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ReplicateTimeout)
		_ = h.repl.lookups.wait(ctx, h) // on failure, clamped as before
		cancel()
	}
	c.mu.Lock()
	s, err := h.installLocked(c, opts, now)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if h.repl != nil {
		h.repl.attached(c, opts.Linger)
	} else {
		c.touch(now)
	}
	return s, nil
}

// attachHeld attaches in data-plane mode: prepareHeld makes the holder
// state ready, and the session is installed if the state is still there.
// An announce that released the connection as its transport left a moment
// ago may have taken it between the two (prepareHeld found it and kept
// it); then prepareHeld runs again, from the release's cursor.
func (h *Hub) attachHeld(c *Conn, opts AttachOptions, now time.Time) (*Session, error) {
	const tries = 3
	for try := 1; ; try++ {
		o := opts
		if err := h.prepareHeld(c, &o, now.UnixNano()); err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.dp == nil && !c.closed {
			c.mu.Unlock()
			if try == tries {
				return nil, fmt.Errorf("attach %q: its holder state was taken %d times: %w", c.id, tries, ErrUnavailable)
			}
			continue
		}
		s, err := h.installLocked(c, o, now)
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		h.repl.attached(c, o.Linger)
		return s, nil
	}
}

// errSuperseded is the error of an attachment that began before the one
// attached meanwhile: the newer one stays (its client is the one there).
var errSuperseded = fmt.Errorf("a newer attachment began while this one was made: %w", ErrUnavailable)

// installLocked makes a session attached at now the connection's, ending
// the one before with DisconnectReplaced, unless that one began after now
// (two attachments of one client crossed, the older one slower: its
// client left it). Caller holds c.mu.
func (h *Hub) installLocked(c *Conn, opts AttachOptions, now time.Time) (*Session, error) {
	if c.closed {
		return nil, ErrUnknownConn
	}
	if old := c.session; old != nil && old.attachedAt > now.UnixNano() {
		return nil, fmt.Errorf("attach %q: %w", c.id, errSuperseded)
	}
	s := &Session{conn: c, hub: h, opts: opts, wakeC: make(chan struct{}, 1), doneC: make(chan struct{}), attachedAt: now.UnixNano()}
	c.endSessionLocked(DisconnectReplaced)
	if opts.Resume {
		last := min(opts.LastSeq, c.nextSeq-1)
		c.ackLocked(last)
		s.cursor = last
	} else {
		c.ackLocked(c.sent)
		s.cursor = c.sent
	}
	s.live = c.nextSeq
	c.session = s
	if c.nextSeq-1 > s.cursor {
		s.wake()
	}
	return s, nil
}

// lookupConn finds a connection; a clustered hub that does not know it
// first catches up with the log, so that a connection just made on another
// node is found.
func (h *Hub) lookupConn(connID string) *Conn {
	find := func() *Conn {
		h.mu.RLock()
		defer h.mu.RUnlock()
		return h.connLocked(connID)
	}
	if h.repl == nil {
		return find()
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ReplicateTimeout)
	defer cancel()
	// A node that (re)started and is still reading the log makes every
	// attachment wait, also for a connection its snapshot holds: until
	// then, the connection's queue is older than what its client read.
	select {
	case <-h.repl.caughtUpC:
	case <-ctx.Done():
		return nil
	}
	if c := find(); c != nil {
		return c
	}
	// Only a connection made an instant ago on another node can still be
	// missing: catch up, sharing the catch-up with every other such
	// attachment (see lookupRoundGap).
	if h.repl.lookups.wait(ctx, h) != nil {
		return nil
	}
	return find()
}

// wake tells the transport that frames may be waiting: through the
// function given to Notify when there is one, else through Ready. Caller
// holds s.conn.mu.
func (s *Session) wake() {
	if s.notify != nil {
		s.notify()
		return
	}
	s.Signal()
}

// Signal makes Ready receive a value, as if frames were waiting, whether
// or not Notify is set: the helper that Notify called hands the work back
// to the transport's writer with it (the writer was busy, or the socket's
// buffer was full). It never blocks.
func (s *Session) Signal() {
	select {
	case s.wakeC <- struct{}{}:
	default:
	}
}

func (s *Session) end(d Disconnect) {
	s.endOnce.Do(func() {
		s.reason = d
		s.ended.Store(true)
		close(s.doneC)
	})
}

// ConnID returns the id of the connection this session is attached to.
func (s *Session) ConnID() string { return s.conn.ID() }

// Ready receives a value when frames may be waiting for Next (unless
// Notify is set, see there) or when Signal was called.
func (s *Session) Ready() <-chan struct{} { return s.wakeC }

// Notify makes the hub call f, instead of signalling Ready, whenever frames
// may be waiting for Next, and at once when some already are; and once
// more when the hub ends the session (Done is closed by then). This lets a
// transport write from a few goroutines of its own, in the order the
// connections became ready, instead of waking one writer per connection for
// every publish. f runs on the publisher's goroutine with the connection's
// lock held: it must return quickly, must not block and must not call the
// session's methods but Ended (it hands the session to another
// goroutine). The writer goroutine still owns Next and Written: whoever
// calls them must exclude the others (the transport's own lock).
// Notify(nil) goes back to Ready.
func (s *Session) Notify(f func()) {
	c := s.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	s.notify = f
	if f != nil && c.session == s && c.nextSeq-1 > s.cursor {
		f()
	}
}

// Done is closed when the hub ends the session (see Reason).
func (s *Session) Done() <-chan struct{} { return s.doneC }

// Ended reports whether the session ended, as a receive from Done that
// does not block would, but cheaper: the function given to Notify, called
// for every frame queued to every waiting connection, tells its last call
// (the session's end) from the others with it.
func (s *Session) Ended() bool { return s.ended.Load() }

// Reason says why the hub ended the session; valid once Done is closed.
func (s *Session) Reason() Disconnect {
	<-s.doneC
	return s.reason
}

// Next appends to dst the frames waiting for this session as one JSON list
// and marks them handed over. It returns dst unchanged and n == 0 when
// nothing waits. At most max frames are taken (max <= 0: all). When frames
// after the session's position were lost, the list starts with a gap object
// {"type":"gap","from_seq":a,"to_seq":b}. last is the seq of the last frame
// in the list.
func (s *Session) Next(dst []byte, max int) (out []byte, n int, last uint64) {
	s.taken, s.born = 0, s.born[:0] // a new list for Written
	c := s.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session != s {
		return dst, 0, s.cursor
	}
	first := c.firstRetainedLocked()
	gap := s.cursor+1 < first
	if !gap && c.nextSeq-1 <= s.cursor {
		return dst, 0, s.cursor
	}
	dst = append(dst, '[')
	observe := s.hub.cfg.ObserveWrite != nil
	if gap {
		dst = appendGap(dst, s.cursor+1, first-1)
		s.cursor = first - 1
		n++
	}
	i := 0
	if c.queue.len() > 0 {
		i = int(s.cursor + 1 - c.queue.at(0).seq)
	}
	from := i
	for ; i < c.queue.len() && (max <= 0 || n < max); i++ {
		e := c.queue.at(i)
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = e.frame.appendDelivery(dst, e.seq, e.catchup)
		s.cursor = e.seq
		n++
		s.taken++
		if observe {
			s.born = append(s.born, e.frame.born)
		}
	}
	if d := c.dp; d != nil {
		dst = s.handedLocked(dst, d, from, i)
	}
	dst = append(dst, ']')
	if s.cursor > c.sent {
		c.sent = s.cursor
	}
	if i < c.queue.len() {
		s.wake()
	}
	return dst, n, s.cursor
}

// Written reports that the list the last Next returned was written to the
// client: its frames count in Stats.FramesWritten, and Config.ObserveWrite
// (when set) receives each frame's publish→write latency (a gap object is
// not a frame). A transport calls it once, after the write (and flush)
// succeeded, also after Detach; a second call, or one after a Next that
// returned nothing, reports nothing. Only the writer that calls Next may
// call it (one goroutine, or several that exclude each other under the
// transport's lock, which then also orders their memory); it takes no lock
// and allocates nothing.
func (s *Session) Written() {
	if s.taken == 0 {
		return
	}
	s.hub.stats.FramesWritten.Add(int64(s.taken))
	s.taken = 0
	if obs := s.hub.cfg.ObserveWrite; obs != nil && len(s.born) > 0 {
		now := s.hub.since(s.hub.cfg.Now())
		for _, b := range s.born {
			obs(time.Duration(max(now-b, 0)))
		}
	}
	if cap(s.born) > keepBorn {
		s.born = nil
	} else {
		s.born = s.born[:0]
	}
}

// Ack forgets every frame up to and including seq: the client has it.
// It is ignored once another transport has attached to the connection: the
// newer one may have resumed from an earlier seq and still need them.
func (s *Session) Ack(seq uint64) {
	c := s.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session != nil && c.session != s {
		return
	}
	c.ackLocked(min(seq, s.cursor))
}

// Touch records activity on the connection (a heartbeat written, a client
// frame read), which keeps the collector away. In a cluster it does
// nothing: the node's lease keeps the connections it holds alive.
func (s *Session) Touch() {
	if s.hub.repl == nil {
		s.conn.touch(s.hub.cfg.Now())
	}
}

// Detach ends the session from the transport's side (its client went away).
// The connection stays and keeps queueing until it is collected.
func (s *Session) Detach() {
	c := s.conn
	c.mu.Lock()
	if c.session == s {
		c.session = nil
	}
	c.mu.Unlock()
	s.end(Disconnect{Code: 1000, Reason: "detached"})
	if h := s.hub; h.repl != nil {
		h.repl.detached(c, h.cfg.Now())
	} else {
		c.touch(h.cfg.Now())
	}
}

// Leave removes the connection at once, as Hub.Disconnect does, because
// its client said it is gone for good (a WebSocket close frame with 1000 or
// 1001): presence "parted" goes out where it applies. It does nothing, and
// reports false, when another transport attached to the connection since
// this session (the client came back). Call it after Detach. It fails only
// when a Log is set and cannot be reached (ErrUnavailable).
func (s *Session) Leave(ctx context.Context) (bool, error) {
	c := s.conn
	c.mu.Lock()
	other := c.session != nil && c.session != s
	c.mu.Unlock()
	if other {
		return false, nil
	}
	return s.hub.Disconnect(ctx, c.ID())
}

// Cursor returns the resume cursor after the last frame Next handed over
// (see Cursor), for the transport to give its client (the SSE event id).
// It is "" on a hub without a DataPlane: the seq is the whole position
// there, and transports use it.
func (s *Session) Cursor() string {
	c := s.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dp == nil {
		return ""
	}
	return Cursor{Seq: s.cursor, Pos: c.dp.spos}.String()
}

// Position is the seq of the last frame handed to this session.
func (s *Session) Position() uint64 {
	s.conn.mu.Lock()
	defer s.conn.mu.Unlock()
	return s.cursor
}

// Pending reports when the oldest and the newest of the frames waiting for
// Next were born (published, by the hub's clock), and ok false when none
// waits. A long-poll measures its gathering from them, so that frames
// queued while no poll was attached wait no longer for having come early.
func (s *Session) Pending() (oldest, newest time.Time, ok bool) {
	c := s.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.queue.len()
	if c.session != s || c.nextSeq-1 <= s.cursor || n == 0 {
		return time.Time{}, time.Time{}, false
	}
	i := 0
	if q0 := c.queue.at(0).seq; s.cursor >= q0 {
		i = int(s.cursor + 1 - q0)
	}
	if i >= n {
		return time.Time{}, time.Time{}, false
	}
	at := func(i int) time.Time { return s.hub.started.Add(time.Duration(c.queue.at(i).frame.born)) }
	return at(i), at(n - 1), true
}

// Rewind undoes the hand-over of every frame after seq, for a transport
// whose write failed: the next attachment without Resume receives them
// again. It does nothing once another transport has attached.
func (s *Session) Rewind(seq uint64) {
	c := s.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session != nil && c.session != s {
		return
	}
	s.cursor = min(s.cursor, seq)
	c.sent = min(c.sent, seq)
	if c.dp != nil {
		c.dp.rewindLocked(&c.queue, seq)
	}
}
