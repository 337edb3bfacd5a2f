package redisbroker

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
)

// errSubscriberClosed is the error of Add after Close.
var errSubscriberClosed = errors.New("subscriber closed")

// subscriber is the DataPlane's core.Subscriber: one sharded pub/sub
// connection (go-redis PubSub) per partition it has streams of, read by
// one goroutine per partition, which also calls fn.
type subscriber struct {
	d     *DataPlane
	fn    func(core.StreamEntry)
	onErr func(error)
	ctx   context.Context // ends at Close
	stop  context.CancelFunc
	wg    sync.WaitGroup

	mu     sync.Mutex
	closed bool
	parts  map[int]*subPart
}

// subPart is one partition of a subscriber.
type subPart struct {
	k    int
	keys partKeys
	wake chan struct{} // Add pokes the goroutine (cap 1)

	mu   sync.Mutex
	ps   *redis.PubSub      // nil while not connected
	refs map[string]*subRef // by stream key (= shard channel)
	// unsubs counts, by key, the SUNSUBSCRIBEs sent on ps whose reply
	// was not read yet: such a reply is no loss of the stream, which
	// may have a new reference already (Remove then Add).
	unsubs map[string]int
	// last is the newest entry delivered, or the partition's head read
	// before the first subscription: the point catch-up reads after.
	last core.Pos
}

// subRef is one referenced stream.
type subRef struct {
	stream    core.Stream
	count     int
	confirmed chan struct{} // closed once SSUBSCRIBE took effect
	gap       bool          // mark the next entry delivered Gap
	floor     core.Pos      // the partition's head before the first Add
}

// NewSubscriber implements core.DataPlane.
func (d *DataPlane) NewSubscriber(fn func(core.StreamEntry), onErr func(error)) core.Subscriber {
	ctx, stop := context.WithCancel(d.life)
	return &subscriber{d: d, fn: fn, onErr: onErr, ctx: ctx, stop: stop, parts: map[int]*subPart{}}
}

// Add implements core.Subscriber. It waits (at most Config.CommandTimeout
// and ctx) until the partition's pub/sub connection confirmed the stream's
// SSUBSCRIBE.
func (s *subscriber) Add(ctx context.Context, st core.Stream) error {
	k := s.d.Partition(st)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("subscribe %v: %w", st, errSubscriberClosed)
	}
	p := s.parts[k]
	if p == nil {
		p = &subPart{k: k, keys: s.d.parts[k], wake: make(chan struct{}, 1), refs: map[string]*subRef{}}
		s.parts[k] = p
		s.wg.Add(1)
		go s.run(p)
	}
	s.mu.Unlock()

	key := p.keys.stream(st)
	p.mu.Lock()
	r := p.refs[key]
	if r == nil {
		// The partition's head before subscribing bounds what a catch-up
		// may deliver of the stream: entries up to it were published
		// before Add.
		p.mu.Unlock()
		head, err := s.d.head(ctx, k)
		if err != nil {
			return wrap(ctx, "subscribe "+st.String(), err)
		}
		p.mu.Lock()
		if r = p.refs[key]; r == nil {
			r = &subRef{stream: st, confirmed: make(chan struct{}), floor: head}
			p.refs[key] = r
			if p.ps != nil {
				// A failed write shows up in the goroutine's Receive,
				// which reconnects with every referenced stream.
				_ = p.ps.SSubscribe(s.ctx, key)
			}
		}
	}
	r.count++
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}

	wait := time.NewTimer(s.d.cfg.CommandTimeout)
	defer wait.Stop()
	var err error
	select {
	case <-r.confirmed:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-wait.C:
		err = fmt.Errorf("%w: no confirmation within %v", core.ErrUnavailable, s.d.cfg.CommandTimeout)
	case <-s.ctx.Done():
		err = errSubscriberClosed
	}
	s.Remove(st)
	return fmt.Errorf("subscribe %v: %w", st, err)
}

// Remove implements core.Subscriber.
func (s *subscriber) Remove(st core.Stream) {
	s.mu.Lock()
	p := s.parts[s.d.Partition(st)]
	s.mu.Unlock()
	if p == nil {
		return
	}
	key := p.keys.stream(st)
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.refs[key]
	if r == nil {
		return
	}
	if r.count--; r.count > 0 {
		return
	}
	delete(p.refs, key)
	if p.ps != nil {
		if p.unsubs == nil {
			p.unsubs = map[string]int{}
		}
		p.unsubs[key]++
		_ = p.ps.SUnsubscribe(s.ctx, key) // a failure breaks the connection, which comes back without it
	}
}

// Close implements core.Subscriber.
func (s *subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	parts := s.parts
	s.mu.Unlock()
	s.stop()
	for _, p := range parts {
		p.mu.Lock()
		if p.ps != nil {
			_ = p.ps.Close() // ends a blocked Receive
		}
		clear(p.refs)
		p.mu.Unlock()
	}
	s.wg.Wait()
	return nil
}

// fail reports err to onErr unless the subscriber is closing.
func (s *subscriber) fail(err error) {
	if s.ctx.Err() == nil && s.onErr != nil {
		s.onErr(err)
	}
}

// run is partition p's goroutine: it connects, catches up after a
// reconnection, and delivers live entries, until Close.
func (s *subscriber) run(p *subPart) {
	defer s.wg.Done()
	failures := 0
	connected := false // ever: the next connection is a reconnection
	for s.ctx.Err() == nil {
		err := s.connect(p, connected)
		if err == nil {
			connected = true
			failures = 0
			err = s.receive(p)
		}
		s.disconnect(p)
		if s.ctx.Err() != nil {
			return
		}
		failures++
		s.fail(fmt.Errorf("subscriber partition %d: %w", p.k, err))
		if !sleep(s.ctx, backoff(s.d.cfg.MaxBackoff, failures)) {
			return
		}
	}
}

// backoff is the wait after the given number of consecutive failures:
// limit/20, doubling, capped at limit.
func backoff(limit time.Duration, failures int) time.Duration {
	d := limit / 20
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// connect opens p's pub/sub connection with the anchor channel and every
// referenced stream, waits for the confirmation, and catches up when it is
// a reconnection. The first connection instead takes the partition's head,
// read before subscribing, as the point to catch up from later.
func (s *subscriber) connect(p *subPart, reconnect bool) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.d.cfg.CommandTimeout)
	defer cancel()
	if !reconnect {
		head, err := s.d.head(ctx, p.k)
		if err != nil {
			return wrap(ctx, "read head", err)
		}
		p.mu.Lock()
		p.last = head
		p.mu.Unlock()
	}
	p.mu.Lock()
	chans := []string{p.keys.anchor}
	for key := range p.refs {
		chans = append(chans, key)
	}
	p.mu.Unlock()
	// The anchor comes first: a ClusterClient opens the connection to the
	// master of the first channel's slot, which all of them share.
	ps := s.d.rdb.SSubscribe(ctx, chans...)
	msg, err := ps.ReceiveTimeout(ctx, s.d.cfg.CommandTimeout)
	if err == nil {
		if sub, ok := msg.(*redis.Subscription); !ok || sub.Kind != "ssubscribe" {
			err = fmt.Errorf("unexpected first reply %v", msg)
		}
	}
	if err != nil {
		_ = ps.Close()
		return wrap(ctx, "ssubscribe", err)
	}
	// One SSUBSCRIBE command subscribed every channel in it before its
	// first reply.
	p.mu.Lock()
	p.ps, p.unsubs = ps, nil
	for key, r := range p.refs {
		if slices.Contains(chans, key) {
			closeOnce(r.confirmed)
		} else {
			_ = ps.SSubscribe(s.ctx, key) // added meanwhile
		}
	}
	p.mu.Unlock()
	if reconnect {
		return s.catchUp(p)
	}
	return nil
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// disconnect closes p's pub/sub connection.
func (s *subscriber) disconnect(p *subPart) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ps != nil {
		_ = p.ps.Close()
		p.ps = nil
	}
}

// receive delivers what p's connection receives until it fails. After
// Config.BlockTimeout without a message it sends PING, and gives the
// connection up when nothing comes for another BlockTimeout.
func (s *subscriber) receive(p *subPart) error {
	p.mu.Lock()
	ps := p.ps
	p.mu.Unlock()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(s.ctx, s.d.cfg.BlockTimeout)
		if s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		var nerr net.Error
		if err != nil && !pinged && errors.As(err, &nerr) && nerr.Timeout() {
			pinged = true
			if err := ps.Ping(s.ctx); err != nil {
				return wrap(s.ctx, "ping", err)
			}
			continue
		}
		if err != nil {
			return wrap(s.ctx, "receive", err)
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Message:
			s.live(p, m.Channel, m.Payload)
		case *redis.Subscription:
			p.mu.Lock()
			r := p.refs[m.Channel]
			if r != nil && m.Kind == "ssubscribe" {
				closeOnce(r.confirmed)
			}
			if m.Kind == "sunsubscribe" && p.unsubs[m.Channel] > 0 {
				// The reply to Remove's SUNSUBSCRIBE.
				if p.unsubs[m.Channel]--; p.unsubs[m.Channel] == 0 {
					delete(p.unsubs, m.Channel)
				}
				r = nil
			}
			p.mu.Unlock()
			if r != nil && m.Kind == "sunsubscribe" {
				// The server dropped a stream we want: its slot moved.
				return fmt.Errorf("the server unsubscribed %s", m.Channel)
			}
		}
	}
}

// live delivers one published entry, "<n>:<epoch>:<ms>:<data>", unless
// its stream is no longer referenced or it was delivered already.
func (s *subscriber) live(p *subPart, channel, payload string) {
	n, ep, ms, data, err := parseLive(payload)
	if err != nil {
		s.fail(fmt.Errorf("subscriber partition %d: %s: %w", p.k, channel, err))
		return
	}
	p.mu.Lock()
	r := p.refs[channel]
	if r == nil {
		p.mu.Unlock()
		return
	}
	e, ok := p.acceptLocked(r, core.Pos{Partition: p.k, N: n, Epoch: ep})
	p.mu.Unlock()
	if ok {
		e.Time, e.Data = time.UnixMilli(ms), data
		s.fn(e)
	}
}

// acceptLocked decides whether the entry at pos of r's stream is to be
// delivered: not when it is not after the partition's head read before
// the stream's Add (it was published before: a catch-up read it, or the
// connection still carried it from before a Remove); a new epoch restarts
// the partition (every stream's next entry is marked Gap); an N not after
// the last delivered is a repeat.
func (p *subPart) acceptLocked(r *subRef, pos core.Pos) (core.StreamEntry, bool) {
	if pos.Epoch == r.floor.Epoch && pos.N <= r.floor.N {
		return core.StreamEntry{}, false
	}
	if pos.Epoch != p.last.Epoch {
		for _, other := range p.refs {
			other.gap = true
		}
		p.last = core.Pos{Partition: p.k, Epoch: pos.Epoch}
	}
	if pos.N <= p.last.N {
		return core.StreamEntry{}, false
	}
	p.last.N = pos.N
	e := core.StreamEntry{Stream: r.stream, Pos: pos, Gap: r.gap}
	r.gap = false
	return e, true
}

func parseLive(payload string) (n uint64, ep uint32, ms int64, data []byte, err error) {
	b := []byte(payload)
	var parts [3][]byte
	for i := range parts {
		j := bytes.IndexByte(b, ':')
		if j < 0 {
			return 0, 0, 0, nil, fmt.Errorf("malformed entry %.40q", payload)
		}
		parts[i], b = b[:j], b[j+1:]
	}
	n, err1 := strconv.ParseUint(string(parts[0]), 10, 64)
	e, err2 := strconv.ParseUint(string(parts[1]), 10, 32)
	ms, err3 := strconv.ParseInt(string(parts[2]), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, 0, 0, nil, fmt.Errorf("malformed entry %.40q: %w", payload, err)
	}
	return n, uint32(e), ms, b, nil
}

// catchUp reads every referenced stream of p after the last entry
// delivered and delivers what the connection missed, in N order, up to the
// partition's head as the first read saw it: entries after it arrive on
// the new connection, which subscribed before that read (a later read of
// another stream may return some of them, and delivering those would make
// the live copies of other streams' entries before them look repeated).
// Streams that lost entries meanwhile (trimmed, or a new epoch) mark their
// next entry Gap.
func (s *subscriber) catchUp(p *subPart) error {
	p.mu.Lock()
	from := p.last
	streams := make([]core.Stream, 0, len(p.refs))
	for _, r := range p.refs {
		streams = append(streams, r.stream)
	}
	p.mu.Unlock()
	var missed []core.StreamEntry
	lost := map[core.Stream]bool{}
	var bound core.Pos // the head of the first read
	for _, st := range streams {
		after := from
		for {
			ctx, cancel := context.WithTimeout(s.ctx, s.d.cfg.CommandTimeout)
			res, err := s.d.Read(ctx, st, after, int(s.d.cfg.ReadCount))
			cancel()
			if err != nil {
				return fmt.Errorf("catch up: %w", err)
			}
			if bound.Epoch == 0 {
				bound = res.Head
			}
			if after == from && (res.Trimmed || res.Reset) {
				lost[st] = true
			}
			for _, e := range res.Entries {
				if e.Pos.Epoch == bound.Epoch && e.Pos.N <= bound.N {
					missed = append(missed, e)
				}
			}
			if !res.More || res.Entries[len(res.Entries)-1].Pos.N >= bound.N {
				break
			}
			after = res.Entries[len(res.Entries)-1].Pos
		}
	}
	slices.SortFunc(missed, func(a, b core.StreamEntry) int { return cmp.Compare(a.Pos.N, b.Pos.N) })
	for _, e := range missed {
		p.mu.Lock()
		r := p.refs[p.keys.stream(e.Stream)]
		var out core.StreamEntry
		ok := false
		if r != nil {
			if lost[e.Stream] {
				r.gap, lost[e.Stream] = true, false
			}
			out, ok = p.acceptLocked(r, e.Pos)
		}
		p.mu.Unlock()
		if ok {
			out.Time, out.Data = e.Time, e.Data
			s.fn(out)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if bound.Epoch != 0 && bound.Epoch != p.last.Epoch {
		p.last = core.Pos{Partition: p.k, Epoch: bound.Epoch}
	}
	for st, l := range lost {
		if r := p.refs[p.keys.stream(st)]; l && r != nil {
			r.gap = true
		}
	}
	return nil
}
