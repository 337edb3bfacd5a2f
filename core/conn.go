package core

import (
	"sync"
	"sync/atomic"
	"time"
	"unique"
)

// entry is one frame in a connection's queue.
type entry struct {
	seq     uint64
	frame   *Frame
	size    int
	catchup bool
}

// Conn is one client connection: created by Connect, it outlives the
// transports that attach to it.
//
// Every node of a cluster keeps every connection, so the part all of them
// need is kept small (128 bytes); what only the node serving it needs
// (queue, seq, session) is the connLocal, allocated apart.
type Conn struct {
	// id is the connection id's 16 bytes (a 36-byte string would cost
	// 48 more on every node).
	id   uuid16
	user *User
	// channels is guarded by Hub.mu (a slice: most connections are in
	// a few channels, and a slice is far smaller than a map).
	channels []*Channel
	// lastActive is unix nanoseconds of the last activity the collector
	// judges by. With a Log it is written only while applying entries
	// (under Hub.mu), so that every node decides alike; transports'
	// activity stays local, covered by the holder's lease (lease.go).
	lastActive atomic.Int64
	// holder is the node whose transport holds the connection, the zero
	// Handle for none (clustered hubs; guarded by Hub.mu, written while
	// applying). A handle: every connection held by a node shares its
	// name.
	holder unique.Handle[string]

	mu     sync.Mutex
	closed bool
	// Data-plane mode (dataplane_holder.go): joins are the join points of
	// the connection's streams and rel the cursor its last release
	// handed over (replicated: written while applying); dp is the holder
	// state, set only while this node holds the connection.
	joins []connJoin
	rel   *Cursor
	dp    *connDP
	// connLocal is set from the start on a single hub and in a cluster
	// without a data plane (every node queues every frame); in data-plane
	// mode only once this node serves the connection (localLocked), and
	// nil on the nodes that never do. The pointer and its fields are
	// guarded by mu.
	*connLocal
}

// connLocal is the state of a connection on a node that serves it.
type connLocal struct {
	limits  queueLimits
	queue   ring // retained frames, ascending seq
	qBytes  int
	nextSeq uint64 // seq of the next frame
	sent    uint64 // highest seq ever handed to a transport
	session *Session
	// What this node told the log (clustered hubs, lease.go): announced
	// is one of the announced* values; left is when the last session of
	// this node detached (unix nanoseconds, 0 while attached); linger is
	// that session's AttachOptions.Linger.
	announced uint8
	left      int64
	linger    time.Duration
}

// holderNode returns the holder's node id, "" for none. Caller holds
// Hub.mu.
func (c *Conn) holderNode() string {
	if c.holder == (unique.Handle[string]{}) {
		return ""
	}
	return c.holder.Value()
}

// setHolder records node ("" for none) as the holder. Caller holds Hub.mu
// for writing.
func (c *Conn) setHolder(node string) {
	if node == "" {
		c.holder = unique.Handle[string]{}
		return
	}
	c.holder = unique.Make(node)
}

// localLocked returns c's local state, allocating it (with an empty queue
// bounded by lim) if this node had none. Caller holds c.mu.
func (c *Conn) localLocked(lim queueLimits) *connLocal {
	if c.connLocal == nil {
		c.connLocal = &connLocal{limits: lim, nextSeq: 1}
	}
	return c.connLocal
}

type queueLimits struct{ frames, bytes int }

// entrySize is what a queued frame counts against the byte bound: its body
// and the entry's own bookkeeping.
func entrySize(f *Frame) int { return len(f.Body()) + 32 }

// newConn returns a connection of u; with local, with its local state
// (see Conn.connLocal).
func newConn(id uuid16, u *User, lim queueLimits, local bool, now time.Time) *Conn {
	c := &Conn{id: id, user: u}
	if local {
		c.connLocal = &connLocal{limits: lim, nextSeq: 1}
	}
	c.touch(now)
	return c
}

// ID returns the connection id.
func (c *Conn) ID() string { return c.id.String() }

// connLocked returns the connection id, nil when it is unknown (or not a
// canonical UUID, which no connection has). Caller holds Hub.mu.
func (h *Hub) connLocked(id string) *Conn {
	k, ok := uuid16Of(id)
	if !ok {
		return nil
	}
	return h.conns[k]
}

// touch records activity: the hub's own (a REST call, an applied entry)
// or, on a single hub, a transport's (attach, heartbeat, detach).
func (c *Conn) touch(now time.Time) { c.lastActive.Store(now.UnixNano()) }

// enqueue appends f to the queue. It never blocks. It reports whether the
// frame was queued, whether the attached session was ended as slow, and how
// many frames no transport had taken were evicted to make room.
func (c *Conn) enqueue(f *Frame) (queued, slow bool, dropped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.enqueueLocked(f)
}

// enqueueLocked is enqueue with c.mu held.
func (c *Conn) enqueueLocked(f *Frame) (queued, slow bool, dropped int) {
	size := entrySize(f)
	if c.closed || c.connLocal == nil {
		return false, false, 0
	}
	c.queue.push(entry{seq: c.nextSeq, frame: f, size: size, catchup: c.session == nil}, c.limits.frames+1)
	c.nextSeq++
	c.qBytes += size
	for c.queue.len() > c.limits.frames || (c.qBytes > c.limits.bytes && c.queue.len() > 1) {
		if s, oldest := c.session, c.queue.at(0).seq; s != nil && oldest > s.cursor && oldest >= s.live {
			// The transport has not taken a frame that arrived while it was
			// attached: the client does not keep up. End it; it may resume
			// and learn of the gap. (Catchup frames that were waiting when
			// it attached are evicted silently: Next reports them as a gap.)
			c.endSessionLocked(DisconnectSlow)
			slow = true
		}
		if c.queue.at(0).seq > c.sent {
			dropped++
		}
		c.dropOldestLocked()
	}
	if s := c.session; s != nil {
		s.wake()
	}
	return true, slow, dropped
}

func (c *Conn) dropOldestLocked() {
	c.qBytes -= c.queue.pop().size
}

// ackLocked forgets every frame up to seq.
func (c *Conn) ackLocked(seq uint64) {
	for c.queue.len() > 0 && c.queue.at(0).seq <= seq {
		c.dropOldestLocked()
	}
}

// pendingLocked is how many queued frames no transport has taken yet.
func (c *Conn) pendingLocked() int {
	if c.connLocal == nil || c.queue.len() == 0 {
		return 0
	}
	taken := max(c.sent, c.queue.at(0).seq-1)
	return int(c.nextSeq - 1 - taken)
}

// firstRetainedLocked is the lowest seq still available.
func (c *Conn) firstRetainedLocked() uint64 {
	if c.queue.len() > 0 {
		return c.queue.at(0).seq
	}
	return c.nextSeq
}

func (c *Conn) endSessionLocked(d Disconnect) {
	if c.connLocal == nil {
		return
	}
	if s := c.session; s != nil {
		c.session = nil
		s.end(d)
		if s.notify != nil { // see Session.Notify
			s.notify()
		}
	}
}

// close ends the connection: its session ends with d and its queue is freed.
func (c *Conn) close(d Disconnect) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.connLocal != nil {
		c.endSessionLocked(d)
		c.queue.reset()
		c.qBytes = 0
	}
}

// lastSeq is the seq of the newest frame queued so far (0: none).
func (c *Conn) lastSeq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.connLocal == nil {
		return 0
	}
	return c.nextSeq - 1
}

// queueLen reports how many frames wait (for statistics and tests).
func (c *Conn) queueLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.connLocal == nil {
		return 0
	}
	return c.queue.len()
}
