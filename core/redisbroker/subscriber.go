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
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
)

// errSubscriberClosed is the error of Add after Close.
var errSubscriberClosed = errors.New("subscriber closed")

// errDropped ends a connection's session when the connection was closed
// under it: a write failed (go-redis may have reconnected without telling,
// losing what was published meanwhile), or a partition moved in and the
// connection must catch it up.
var errDropped = errors.New("connection dropped")

// subscriber is the DataPlane's core.Subscriber: one sharded pub/sub
// connection (go-redis PubSub) per Redis master that holds partitions it
// has streams of, read by one goroutine, which also calls fn for every
// partition the connection carries. A burst of messages read in one go
// then costs one wake-up, whatever partitions they belong to.
type subscriber struct {
	d     *DataPlane
	fn    func(core.StreamEntry)
	onErr func(error)
	ctx   context.Context // ends at Close
	stop  context.CancelFunc
	wg    sync.WaitGroup

	// mu guards closed, parts, conns and each subPart's conn. Lock order:
	// subscriber.mu, subConn.mu, subPart.mu.
	mu     sync.Mutex
	closed bool
	parts  map[int]*subPart
	conns  map[string]*subConn // by master address ("" on one server)
}

// subConn is one pub/sub connection, to one master, and its goroutine.
type subConn struct {
	addr string
	wake chan struct{} // a partition joined an idle connection (cap 1)

	mu    sync.Mutex
	parts map[int]*subPart // the partitions it carries
	ps    *redis.PubSub    // nil while not connected
	// unsubs counts, by key, the SUNSUBSCRIBEs sent on ps whose reply
	// was not read yet: such a reply is no loss of the stream, which
	// may have a new reference already (Remove then Add).
	unsubs map[string]int
	// moved is set when ps was closed to catch up a partition that moved
	// in: the end of the session is no failure.
	moved bool
}

// subPart is one partition of a subscriber.
type subPart struct {
	k    int
	keys partKeys
	conn *subConn // guarded by subscriber.mu

	mu   sync.Mutex
	refs map[string]*subRef // by stream key (= shard channel)
	// last is the newest entry delivered, or the partition's head read
	// before its first subscription: the point catch-up reads after.
	last core.Pos
	// joined is set once a subscription of the partition took effect:
	// the next one (after a reconnection or a move) catches up.
	joined bool
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
	return &subscriber{d: d, fn: fn, onErr: onErr, ctx: ctx, stop: stop,
		parts: map[int]*subPart{}, conns: map[string]*subConn{}}
}

// master returns the address of the master that holds partition k: ""
// on one server.
func (s *subscriber) master(ctx context.Context, k int) (string, error) {
	c, ok := s.d.rdb.(*redis.ClusterClient)
	if !ok {
		return "", nil
	}
	m, err := c.MasterForKey(ctx, s.d.parts[k].anchor)
	if err != nil {
		return "", err
	}
	return m.Options().Addr, nil
}

// connLocked returns the connection to addr, started if new. Caller holds
// s.mu.
func (s *subscriber) connLocked(addr string) *subConn {
	c := s.conns[addr]
	if c == nil {
		c = &subConn{addr: addr, wake: make(chan struct{}, 1), parts: map[int]*subPart{}}
		s.conns[addr] = c
		s.wg.Add(1)
		go s.run(c)
	}
	return c
}

// part returns partition k, added to the connection to its master if new
// (its last delivered then is the head read first).
func (s *subscriber) part(ctx context.Context, k int) (*subPart, error) {
	s.mu.Lock()
	p, closed := s.parts[k], s.closed
	s.mu.Unlock()
	if closed {
		return nil, errSubscriberClosed
	}
	if p != nil {
		return p, nil
	}
	head, err := s.d.head(ctx, k)
	if err != nil {
		return nil, wrap(ctx, "read head", err)
	}
	addr, err := s.master(ctx, k)
	if err != nil {
		return nil, wrap(ctx, "find master", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errSubscriberClosed
	}
	if p = s.parts[k]; p != nil {
		return p, nil
	}
	p = &subPart{k: k, keys: s.d.parts[k], refs: map[string]*subRef{}, last: head}
	s.parts[k] = p
	c := s.connLocked(addr)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parts[k], p.conn = p, c
	if c.ps != nil {
		c.sendLocked(s.ctx, p.keys.anchor)
	} else {
		select { // c may be idle
		case c.wake <- struct{}{}:
		default:
		}
	}
	return p, nil
}

// sendLocked sends SSUBSCRIBE of chans (of one slot) on c's connection. A
// failed write may have made go-redis reconnect by itself, losing what was
// published meanwhile: c's connection is then closed, and the session
// reconnects and catches up. It does nothing while c is not connected
// (the next connection subscribes every referenced stream). Caller holds
// c.mu.
func (c *subConn) sendLocked(ctx context.Context, chans ...string) {
	if c.ps == nil {
		return
	}
	if err := c.ps.SSubscribe(ctx, chans...); err != nil {
		c.dropLocked()
	}
}

// dropLocked closes c's connection, which ends its session. Caller holds
// c.mu.
func (c *subConn) dropLocked() {
	if c.ps != nil {
		_ = c.ps.Close() // ends a blocked Receive
		c.ps = nil
	}
}

// Add implements core.Subscriber. It waits (at most Config.CommandTimeout
// and ctx) until the connection carrying the stream's partition confirmed
// the stream's SSUBSCRIBE.
func (s *subscriber) Add(ctx context.Context, st core.Stream) error {
	k := s.d.Partition(st)
	p, err := s.part(ctx, k)
	if err != nil {
		return fmt.Errorf("subscribe %v: %w", st, err)
	}
	key := p.keys.stream(st)
	p.mu.Lock()
	r := p.refs[key]
	p.mu.Unlock()
	var head core.Pos
	if r == nil {
		// The partition's head before subscribing bounds what a catch-up
		// may deliver of the stream: entries up to it were published
		// before Add.
		if head, err = s.d.head(ctx, k); err != nil {
			return wrap(ctx, "subscribe "+st.String(), err)
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("subscribe %v: %w", st, errSubscriberClosed)
	}
	c := p.conn
	c.mu.Lock()
	s.mu.Unlock()
	p.mu.Lock()
	if r = p.refs[key]; r == nil {
		r = &subRef{stream: st, confirmed: make(chan struct{}), floor: head}
		p.refs[key] = r
		c.sendLocked(s.ctx, key)
	}
	r.count++
	p.mu.Unlock()
	c.mu.Unlock()

	wait := time.NewTimer(s.d.cfg.CommandTimeout)
	defer wait.Stop()
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
	if p == nil {
		s.mu.Unlock()
		return
	}
	c := p.conn
	c.mu.Lock()
	s.mu.Unlock()
	defer c.mu.Unlock()
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
	if c.ps == nil {
		return
	}
	if c.unsubs == nil {
		c.unsubs = map[string]int{}
	}
	c.unsubs[key]++
	if err := c.ps.SUnsubscribe(s.ctx, key); err != nil {
		c.dropLocked() // as in sendLocked
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
	conns := s.conns
	s.mu.Unlock()
	s.stop()
	for _, c := range conns {
		c.mu.Lock()
		c.dropLocked()
		for _, p := range c.parts {
			p.mu.Lock()
			clear(p.refs)
			p.mu.Unlock()
		}
		c.mu.Unlock()
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

// run is c's goroutine: it connects, catches up the partitions that had
// been subscribed, and delivers live entries, until Close.
func (s *subscriber) run(c *subConn) {
	defer s.wg.Done()
	failures := 0
	for s.ctx.Err() == nil {
		err := s.session(c)
		c.mu.Lock()
		c.dropLocked()
		c.unsubs = nil
		moved := c.moved
		c.moved = false
		c.mu.Unlock()
		if s.ctx.Err() != nil {
			return
		}
		if moved || err == nil {
			// A partition moved in (see rehome), or c had none.
			failures = 0
			continue
		}
		failures++
		s.fail(fmt.Errorf("subscriber connection %q: %w", c.addr, err))
		if cc, ok := s.d.rdb.(*redis.ClusterClient); ok {
			cc.ReloadState(s.ctx) // a slot may have moved
		}
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

// session serves one connection of c: it waits for a partition when c has
// none (then returns nil), moves away the partitions another master holds
// now (on a Redis Cluster), connects, subscribes every partition (its
// anchor channel first, then its streams: one SSUBSCRIBE per partition,
// whose channels share a slot), waits until each took effect, catches up
// those subscribed before, then delivers live entries until the
// connection fails.
func (s *subscriber) session(c *subConn) error {
	c.mu.Lock()
	idle := len(c.parts) == 0
	c.mu.Unlock()
	if idle {
		select {
		case <-c.wake:
		case <-s.ctx.Done():
		}
		return nil
	}
	if err := s.rehome(c); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.d.cfg.CommandTimeout)
	defer cancel()
	ps := s.d.rdb.SSubscribe(ctx)
	c.mu.Lock()
	sent := map[int][]string{}
	for k, p := range c.parts {
		sent[k] = p.chans()
	}
	c.mu.Unlock()
	for _, chans := range sent {
		// The first write dials: a ClusterClient opens the connection to
		// the master of the first channel's slot.
		if err := ps.SSubscribe(ctx, chans...); err != nil {
			_ = ps.Close()
			return wrap(ctx, "ssubscribe", err)
		}
	}
	// Partitions and streams added meanwhile saw no connection.
	c.mu.Lock()
	if s.ctx.Err() != nil {
		c.mu.Unlock()
		_ = ps.Close()
		return s.ctx.Err()
	}
	c.ps = ps
	pending := map[string]*subPart{} // by anchor: not confirmed yet
	var catch []*subPart
	for k, p := range c.parts {
		pending[p.keys.anchor] = p
		p.mu.Lock()
		if p.joined {
			catch = append(catch, p)
		}
		p.mu.Unlock()
		chans, ok := sent[k]
		if !ok {
			c.sendLocked(s.ctx, p.chans()...)
			continue
		}
		p.mu.Lock()
		for key := range p.refs {
			if !slices.Contains(chans, key) {
				c.sendLocked(s.ctx, key)
			}
		}
		p.mu.Unlock()
	}
	c.mu.Unlock()

	// Messages of partitions already subscribed arrive among the
	// confirmations: they wait for the catch-up.
	var early []*redis.Message
	for len(pending) > 0 {
		msg, err := ps.ReceiveTimeout(ctx, s.d.cfg.CommandTimeout)
		if err != nil {
			return wrap(ctx, "ssubscribe", err)
		}
		switch m := msg.(type) {
		case *redis.Message:
			early = append(early, m)
		case *redis.Subscription:
			if p := pending[m.Channel]; p != nil && m.Kind == "ssubscribe" {
				delete(pending, m.Channel)
			}
			if err := s.subscription(c, ps, m); err != nil {
				return err
			}
		}
	}
	if err := s.catchUpAll(catch); err != nil {
		return err
	}
	for _, m := range early {
		if err := s.message(c, ps, m); err != nil {
			return err
		}
	}
	return s.receive(c, ps)
}

// chans returns the channels p's subscription holds: the anchor first,
// then every referenced stream.
func (p *subPart) chans() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	chans := []string{p.keys.anchor}
	for key := range p.refs {
		chans = append(chans, key)
	}
	return chans
}

// rehome moves the partitions of c that another master holds now to that
// master's connection, which reconnects to catch them up. It does nothing
// on one server.
func (s *subscriber) rehome(c *subConn) error {
	if _, ok := s.d.rdb.(*redis.ClusterClient); !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.d.cfg.CommandTimeout)
	defer cancel()
	c.mu.Lock()
	ks := make([]int, 0, len(c.parts))
	for k := range c.parts {
		ks = append(ks, k)
	}
	c.mu.Unlock()
	for _, k := range ks {
		addr, err := s.master(ctx, k)
		if err != nil {
			return wrap(ctx, "find master", err)
		}
		if addr == c.addr {
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return errSubscriberClosed
		}
		p := s.parts[k]
		c.mu.Lock()
		delete(c.parts, k)
		c.mu.Unlock()
		to := s.connLocked(addr)
		to.mu.Lock()
		to.parts[k], p.conn = p, to
		if to.ps != nil {
			to.moved = true
			to.dropLocked()
		} else {
			select {
			case to.wake <- struct{}{}:
			default:
			}
		}
		to.mu.Unlock()
		s.mu.Unlock()
	}
	return nil
}

// receive delivers what ps receives until it fails. After
// Config.BlockTimeout without a message it sends PING, and gives the
// connection up when nothing comes for another BlockTimeout. Messages
// already read into the connection's buffer are read without waiting,
// so a burst costs one wake-up.
func (s *subscriber) receive(c *subConn, ps *redis.PubSub) error {
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
			err = s.message(c, ps, m)
		case *redis.Subscription:
			err = s.subscription(c, ps, m)
		}
		if err != nil {
			return err
		}
	}
}

// current returns the partition of channel that c carries, or
// errDropped when ps is no longer c's connection.
func (s *subscriber) current(c *subConn, ps *redis.PubSub, channel string) (*subPart, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ps != ps {
		return nil, errDropped
	}
	k, ok := s.d.partitionOfKey(channel)
	if !ok {
		return nil, nil
	}
	return c.parts[k], nil
}

// message delivers one message of ps.
func (s *subscriber) message(c *subConn, ps *redis.PubSub, m *redis.Message) error {
	p, err := s.current(c, ps, m.Channel)
	if err != nil || p == nil {
		return err
	}
	s.live(p, m.Channel, m.Payload)
	return nil
}

// subscription handles a confirmation of ps: SSUBSCRIBE took effect, or
// the reply to Remove's SUNSUBSCRIBE; a SUNSUBSCRIBE nobody sent (the
// slot moved) of a wanted channel ends the session.
func (s *subscriber) subscription(c *subConn, ps *redis.PubSub, m *redis.Subscription) error {
	p, err := s.current(c, ps, m.Channel)
	if err != nil || p == nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.refs[m.Channel]
	anchor := m.Channel == p.keys.anchor
	switch m.Kind {
	case "ssubscribe":
		if r != nil {
			closeOnce(r.confirmed)
		}
		if anchor {
			p.joined = true
		}
	case "sunsubscribe":
		if c.unsubs[m.Channel] > 0 {
			if c.unsubs[m.Channel]--; c.unsubs[m.Channel] == 0 {
				delete(c.unsubs, m.Channel)
			}
			return nil
		}
		if r != nil || anchor {
			return fmt.Errorf("the server unsubscribed %s", m.Channel)
		}
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

// partitionOfKey returns the partition of a key or shard channel of the
// data plane: the k of its hash tag "{p<k>-<j>}".
func (d *DataPlane) partitionOfKey(key string) (int, bool) {
	i := strings.IndexByte(key, '{')
	if i < 0 || i+1 >= len(key) || key[i+1] != 'p' {
		return 0, false
	}
	rest := key[i+2:]
	j := strings.IndexByte(rest, '-')
	if j < 0 {
		return 0, false
	}
	k, err := strconv.Atoi(rest[:j])
	if err != nil || k < 0 || k >= len(d.parts) || !strings.HasPrefix(key, d.parts[k].prefix) {
		return 0, false
	}
	return k, true
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

// catchUpAll catches up ps, each partition on a goroutine of its own (fn
// is called for each from one goroutine, and the connection's goroutine
// waits for them all).
func (s *subscriber) catchUpAll(ps []*subPart) error {
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { errs[i] = s.catchUp(p) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// catchUp reads every referenced stream of p after the last entry
// delivered and delivers what the connection missed, in N order, up to the
// partition's head as the first read saw it: entries after it arrive on
// the new connection, which subscribed before that read (a later read of
// another stream may return some of them, and delivering those would make
// the live copies of other streams' entries before them look repeated).
// Streams that lost entries meanwhile (trimmed, or a new epoch) mark their
// next entry Gap; when the epoch changed, a stream with nothing to deliver
// gets a reset mark at once (core.Subscriber).
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
				return fmt.Errorf("catch up partition %d: %w", p.k, err)
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
	reset := bound.Epoch != 0 && bound.Epoch != from.Epoch
	if bound.Epoch != 0 && bound.Epoch != p.last.Epoch {
		p.last = core.Pos{Partition: p.k, Epoch: bound.Epoch}
	}
	var marks []core.Stream
	for st, l := range lost {
		r := p.refs[p.keys.stream(st)]
		switch {
		case !l || r == nil:
		case reset:
			marks = append(marks, st)
		default:
			r.gap = true
		}
	}
	p.mu.Unlock()
	for _, st := range marks {
		p.mu.Lock()
		live := p.refs[p.keys.stream(st)] != nil
		p.mu.Unlock()
		if live {
			s.fn(core.StreamEntry{Stream: st, Pos: core.Pos{Partition: p.k, Epoch: bound.Epoch}, Gap: true})
		}
	}
	return nil
}
