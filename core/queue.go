package core

// ring is a connection's queue: a growable ring buffer of entries in
// ascending seq order. Unlike a slice that is appended to at the back and
// resliced at the front, it reuses its storage once a connection's queue
// has reached its steady size, so queueing a frame allocates nothing.
// Guarded by Conn.mu.
type ring struct {
	buf []entry
	// head is the index in buf of the oldest entry, n the number of
	// entries (int32: a queue holds at most QueueFrames; the Conn that
	// every node keeps per connection stays a size class smaller).
	head, n int32
}

// keepCap is the largest storage an emptied queue keeps for reuse; larger
// storage is released so that idle connections hold little memory.
const keepCap = 64

func (r *ring) len() int { return int(r.n) }

// at returns the i-th oldest entry (0 <= i < len).
func (r *ring) at(i int) *entry {
	i += int(r.head)
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return &r.buf[i]
}

// push appends e, growing the storage (at most to limit entries, which
// must exceed len) when it is full.
func (r *ring) push(e entry, limit int) {
	if r.len() == len(r.buf) {
		size := min(max(8, 2*len(r.buf)), limit)
		buf := make([]entry, max(size, r.len()+1))
		for i := range r.len() {
			buf[i] = *r.at(i)
		}
		r.buf, r.head = buf, 0
	}
	*r.at(r.len()) = e
	r.n++
}

// pop removes the oldest entry and returns it.
func (r *ring) pop() entry {
	e := r.buf[r.head]
	r.buf[r.head] = entry{} // drop the frame reference
	r.head++
	if int(r.head) == len(r.buf) {
		r.head = 0
	}
	r.n--
	if r.n == 0 {
		r.head = 0
		if len(r.buf) > keepCap {
			r.buf = nil
		}
	}
	return e
}

// reset frees the storage.
func (r *ring) reset() { *r = ring{} }
