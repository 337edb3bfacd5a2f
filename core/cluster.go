package core

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A clustered hub (Config.Log set) is one replica of a state machine: every
// change (connect, subscribe, unsubscribe, user state, publish, channel
// config, disconnect, collection, node leases, holds and releases of
// connections, see lease.go) is submitted to the
// log as an op by the public method (see doc.go), and every node applies
// every op, its own included, in log order on one goroutine, through the
// same apply functions a single hub calls. The node that appended an op
// answers its caller with what applying it returned. Applying is
// deterministic: the op carries the origin's clock, ids made while
// applying derive from the entry id, and everything that iterates a map to
// queue frames does it in a fixed order.
// So every node holds the same users, connections (with the same per-
// connection seq numbers), channels, presence, history and statistics, and
// a client may attach to any node. What stays local: which transport is
// attached where, what it was handed and acknowledged, and the queues'
// eviction caused by acknowledgements.

// Op kinds.
const (
	opNop         = "nop"
	opConnect     = "connect"
	opSubscribe   = "subscribe"
	opUnsubscribe = "unsubscribe"
	opUserState   = "user_state"
	opPublish     = "publish"
	opConfigure   = "channel_config"
	opDisconnect  = "disconnect"
	opCollect     = "collect"
	opLease       = "lease"
	opHold        = "hold"
	opRelease     = "release"
	opSnapshot    = "snapshot"
	opVoid        = "void"
)

// op is one log entry's operation.
type op struct {
	Kind  string `json:"k"`
	Node  string `json:"n"`
	Token string `json:"t,omitempty"`
	// Time is the origin's clock in unix nanoseconds: the "now" of applying.
	Time int64 `json:"at"`

	Connect   *ConnectParams           `json:"connect,omitempty"`
	Subscribe *SubscribeParams         `json:"subscribe,omitempty"`
	UserState *UserStateParams         `json:"user_state,omitempty"`
	Messages  []Message                `json:"messages,omitempty"`
	Configs   map[string]ChannelConfig `json:"configs,omitempty"`
	ConnID    string                   `json:"conn_id,omitempty"`
	// Marks are the connections of a hold or release (lease.go).
	Marks []connMark `json:"marks,omitempty"`
	// Void is the token of the entry an opVoid withdraws.
	Void string `json:"void,omitempty"`
	// Joins are, in data-plane mode, the join points of the streams a
	// connect or subscribe adds (dataplane_holder.go).
	Joins []streamJoin `json:"joins,omitempty"`
	// Channels are, in data-plane mode, the channels an opCollect may
	// remove (gc_cluster.go).
	Channels []string `json:"channels,omitempty"`
}

type applied struct {
	res any
	err error
	// events are, in data-plane mode, the presence and state frames
	// applying made, for the origin to publish (dataplane_publish.go).
	events []routed
}

// replicator is a clustered hub's link to its log.
type replicator struct {
	log  Log
	node string
	// boot tells this process's tokens from those of an earlier life of a
	// node with the same id.
	boot string
	next atomic.Uint64

	mu      sync.Mutex
	waiting map[string]chan applied

	// lookups shares the catch-ups that attachments for unknown
	// connections cause (see lookupRoundGap).
	lookups syncGroup

	caughtUp atomic.Bool
	// caughtUpC is closed once caughtUp is set.
	caughtUpC chan struct{}
	// broken is set when following the log failed and cleared when an
	// entry is applied again.
	broken  atomic.Bool
	lastID  atomic.Pointer[string] // id of the last applied entry
	applied atomic.Int64           // entries applied since start
	// snapSize is the length of the last snapshot this node encoded
	// (applying goroutine only).
	snapSize int

	// local are the connections a transport of this node attached to and
	// that it has not released yet; dirty those whose hold or release is
	// due now (dirtyC wakes the cluster loop for them). Guarded by lmu;
	// see lease.go.
	lmu    sync.Mutex
	local  map[*Conn]struct{}
	dirty  map[*Conn]struct{}
	dirtyC chan struct{}

	// events collects, in data-plane mode, what the entry being applied
	// routes (Hub.routeAll); only the applying goroutine touches it.
	events []routed
	// origin is, while an entry is applied, whether this node appended
	// it (only the applying goroutine touches it).
	origin bool

	// voided holds the tokens of entries withdrawn by an opVoid that have
	// not come through the log (yet): the entry is skipped if it does.
	// Token → the void's time, unix nanoseconds. Only the applying
	// goroutine (and restore, before following starts) touches it.
	voided map[string]int64
}

func newReplicator(l Log, node string) *replicator {
	return &replicator{log: l, node: node, boot: NewUUID()[:8], waiting: map[string]chan applied{},
		lookups: syncGroup{gap: lookupRoundGap}, caughtUpC: make(chan struct{}), voided: map[string]int64{},
		local: map[*Conn]struct{}{}, dirty: map[*Conn]struct{}{}, dirtyC: make(chan struct{}, 1)}
}

// lookupRoundGap is the shortest time between two catch-ups caused by
// attachments for connections this node does not know: every attachment
// that arrives meanwhile shares the next one. Each catch-up appends an
// entry, and anyone can ask for a random connection id, so there are at
// most 1/lookupRoundGap of them a second, whatever the number of requests;
// a real client that attaches an instant after /connect answered on
// another node waits at most this long more.
const lookupRoundGap = 20 * time.Millisecond

// syncGroup shares catch-ups between concurrent callers: a caller waits for
// the first round that starts after it arrived, and rounds start at least
// gap apart.
type syncGroup struct {
	gap     time.Duration
	mu      sync.Mutex
	pending *syncRound // the round callers join now; it has not started
	running bool
}

type syncRound struct {
	done chan struct{}
	err  error
}

// wait joins the next round and returns its result, or ctx's error.
func (g *syncGroup) wait(ctx context.Context, h *Hub) error {
	g.mu.Lock()
	if g.pending == nil {
		g.pending = &syncRound{done: make(chan struct{})}
	}
	r := g.pending
	if !g.running {
		g.running = true
		go g.run(h)
	}
	g.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run starts rounds until no caller waits.
func (g *syncGroup) run(h *Hub) {
	var last time.Time
	for {
		if wait := g.gap - time.Since(last); wait > 0 {
			time.Sleep(wait) // pacing the rounds; callers wait on their round
		}
		g.mu.Lock()
		r := g.pending
		g.pending = nil
		if r == nil {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		last = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ReplicateTimeout)
		r.err = h.Sync(ctx)
		cancel()
		close(r.done)
	}
}

// idSource derives version-4-shaped UUIDs from an entry, so that every
// node names the users, channels and frames an entry creates alike. A nil
// *idSource (a single hub) makes random ones.
type idSource struct {
	seed [32]byte
	n    uint64
}

func newIDSource(entryID, token string) *idSource {
	return &idSource{seed: sha256.Sum256([]byte(entryID + "\x00" + token))}
}

// skip passes over n ids without making them.
func (s *idSource) skip(n int) {
	if s != nil {
		s.n += uint64(n)
	}
}

func (s *idSource) next() string { return s.nextUUID().String() }

// nextUUID is next as bytes.
func (s *idSource) nextUUID() uuid16 {
	if s == nil {
		return newUUID16()
	}
	var buf [40]byte
	copy(buf[:], s.seed[:])
	binary.BigEndian.PutUint64(buf[32:], s.n)
	s.n++
	sum := sha256.Sum256(buf[:])
	b := uuid16(sum[:16])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

// submit appends o to the log and waits until this node applied it,
// returning what applying returned: a clustered hub's public methods
// validate what they can without the state, then submit.
func submit[R any](ctx context.Context, h *Hub, o op) (R, error) {
	var zero R
	res, err := h.repl.call(ctx, h, o)
	if err != nil {
		return zero, err
	}
	r, _ := res.(R)
	return r, nil
}

func (r *replicator) call(ctx context.Context, h *Hub, o op) (any, error) {
	o.Node = r.node
	o.Token = r.newToken()
	o.Time = h.cfg.Now().UnixNano()
	body, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("replicate %s: %w", o.Kind, err)
	}
	done := r.expect(o.Token)
	defer r.forget(o.Token)
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ReplicateTimeout)
	defer cancel()
	if _, err := r.log.Append(ctx, body); err != nil {
		h.stats.BrokerErrors.Add(1)
		if !errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if errors.Is(err, ErrNotStored) || o.Kind == opNop {
			return nil, fmt.Errorf("replicate %s: %w", o.Kind, err)
		}
		return r.settle(h, o, done, err)
	}
	select {
	case a := <-done:
		return h.result(ctx, a)
	case <-ctx.Done():
		h.stats.BrokerErrors.Add(1)
		cause := fmt.Errorf("not applied within %v", h.cfg.ReplicateTimeout)
		if o.Kind == opNop {
			return nil, fmt.Errorf("replicate %s: %w: %w", o.Kind, cause, ErrUnavailable)
		}
		return r.settle(h, o, done, cause)
	}
}

// newToken names one entry of this node: unique across the cluster and
// across the node's restarts.
func (r *replicator) newToken() string {
	return r.node + ":" + r.boot + ":" + strconv.FormatUint(r.next.Add(1), 10)
}

// expect registers the wait for the entry with the given token: applying
// it sends its result on the returned channel (once; buffered).
func (r *replicator) expect(token string) chan applied {
	done := make(chan applied, 1)
	r.mu.Lock()
	r.waiting[token] = done
	r.mu.Unlock()
	return done
}

func (r *replicator) forget(token string) {
	r.mu.Lock()
	delete(r.waiting, token)
	r.mu.Unlock()
}

// errVoided is what an entry applied after its void returns: it was
// skipped on every node.
var errVoided = fmt.Errorf("withdrawn: its append was not confirmed: %w", ErrUnavailable)

// settle makes certain the outcome of a change whose entry's append failed
// without saying whether it was stored, or that was stored but not applied
// here in time (this node's following was broken). Answering "refused"
// then would be a lie if the entry went on to be applied, and answering
// nothing a worse one; so settle appends an opVoid for the entry's token.
// Every node skips an entry that comes through the log after its void, so
// once this node applied the void, the entry was either applied before it
// (and settle returns what applying it returned) or never will be (and
// settle returns a refusal wrapping ErrUnavailable, as an unreachable log
// does). The void is retried until Config.ReplicateTimeout passes; then the
// outcome stays unknown and settle fails with ErrOutcomeUnknown.
func (r *replicator) settle(h *Hub, o op, done <-chan applied, cause error) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ReplicateTimeout)
	defer cancel()
	for {
		v := op{Kind: opVoid, Node: r.node, Token: r.newToken(), Time: h.cfg.Now().UnixNano(), Void: o.Token}
		body, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("replicate %s: void: %w", o.Kind, err)
		}
		vdone := r.expect(v.Token)
		_, err = r.log.Append(ctx, body)
		if err == nil {
			select {
			case a := <-done:
				r.forget(v.Token)
				return h.result(ctx, a)
			case <-vdone:
				r.forget(v.Token)
				// Applying the entry, if it came first, sent its result
				// before the void's.
				select {
				case a := <-done:
					return h.result(ctx, a)
				default:
				}
				return nil, fmt.Errorf("replicate %s: %w (%w); withdrawn", o.Kind, ErrUnavailable, cause)
			case <-ctx.Done():
			}
		} else {
			h.stats.BrokerErrors.Add(1)
		}
		r.forget(v.Token)
		select {
		case a := <-done:
			return h.result(ctx, a)
		default:
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			h.log.Warn().Str("op", o.Kind).Str("token", o.Token).Err(cause).
				Msg("a change's entry was neither confirmed nor withdrawn in time: its outcome is unknown")
			return nil, fmt.Errorf("replicate %s: %w: the log confirmed neither the change nor its withdrawal within %v (%w)",
				o.Kind, ErrOutcomeUnknown, h.cfg.ReplicateTimeout, cause)
		}
	}
}

// voidKeep is how long a void waits for its entry: a void older than this
// (by the time of a later void) is forgotten.
const voidKeep = 10 * time.Minute

// applyVoid withdraws the entry with the given token if it has not come
// through the log yet.
func (r *replicator) applyVoid(token string, at int64) {
	for t, when := range r.voided {
		if when < at-int64(voidKeep) {
			delete(r.voided, t)
		}
	}
	r.voided[token] = at
}

// Sync waits until this node has applied every entry the log held when
// Sync was called. Without a Log it returns nil at once. It must not be
// called while applying.
func (h *Hub) Sync(ctx context.Context) error {
	if h.repl == nil {
		return nil
	}
	_, err := h.repl.call(ctx, h, op{Kind: opNop})
	return err
}

// Ready returns nil when the hub takes traffic: not draining and, with a
// Log, caught up with the log and able to reach it (and its DataPlane,
// when set).
func (h *Hub) Ready(ctx context.Context) error {
	if h.Draining() {
		return errors.New("draining")
	}
	if h.repl == nil {
		return nil
	}
	if !h.repl.caughtUp.Load() {
		return errors.New("catching up with the log")
	}
	if err := h.repl.log.Ping(ctx); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if h.dp != nil {
		if err := h.dp.Ping(ctx); err != nil {
			return fmt.Errorf("data plane: %w", err)
		}
	}
	if h.repl.broken.Load() {
		// Following failed since the last applied entry: ready only once
		// an entry of this node comes back through the log.
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := h.Sync(ctx); err != nil {
			return fmt.Errorf("following the log: %w", err)
		}
	}
	return nil
}

// apply applies one entry. Only the follow goroutine calls it.
func (h *Hub) apply(e Entry) {
	var o op
	dec := json.NewDecoder(bytes.NewReader(e.Op))
	dec.UseNumber()
	if err := dec.Decode(&o); err != nil {
		h.log.Error().Err(err).Str("entry", e.ID).Msg("skipping an undecodable log entry")
		return
	}
	at := time.Unix(0, o.Time)
	var res any
	var err error
	if _, void := h.repl.voided[o.Token]; void && o.Token != "" {
		delete(h.repl.voided, o.Token)
		err = errVoided
		h.log.Warn().Str("entry", e.ID).Str("op", o.Kind).Msg("skipping an entry withdrawn by its node")
	} else {
		h.repl.origin = o.Node == h.repl.node
		res, err = h.applyOp(&o, at, newIDSource(e.ID, o.Token))
		h.repl.origin = false
	}
	events := h.repl.events
	h.repl.events = nil
	if o.Kind == opSnapshot && o.Node == h.repl.node {
		h.saveSnapshotAt(e.ID)
	}
	h.repl.lastID.Store(&e.ID)
	h.repl.applied.Add(1)
	h.repl.broken.Store(false)
	if o.Node != h.repl.node {
		return
	}
	var done chan applied
	if o.Token != "" {
		h.repl.mu.Lock()
		done = h.repl.waiting[o.Token]
		h.repl.mu.Unlock()
	}
	switch {
	case done != nil:
		done <- applied{res: res, err: err, events: events}
	case len(events) > 0:
		// Nobody waits (a collection this node asked for, or a change
		// whose caller gave up): publish them anyway.
		go h.publishEvents(context.Background(), events)
	}
}

// applyOp applies one decoded entry with its time and id source, through
// the same apply functions a single hub calls (apply.go).
func (h *Hub) applyOp(o *op, at time.Time, ids *idSource) (any, error) {
	switch o.Kind {
	case opConnect:
		if o.Connect != nil {
			return h.applyConnect(at, ids, *o.Connect, o.Joins)
		}
	case opSubscribe:
		if o.Subscribe != nil {
			return h.applySubscribe(at, ids, *o.Subscribe, o.Joins)
		}
	case opUnsubscribe:
		if o.Subscribe != nil {
			return h.applyUnsubscribe(at, ids, *o.Subscribe)
		}
	case opUserState:
		if o.UserState != nil {
			return h.applyUserState(at, ids, *o.UserState)
		}
	case opPublish:
		// Validated by the origin (Publish) before it submitted them.
		h.applyPublish(at, o.Messages)
		return struct{}{}, nil
	case opConfigure:
		return h.applyConfigure(at, ids, o.Configs)
	case opDisconnect:
		return h.applyDisconnect(at, ids, o.ConnID), nil
	case opCollect:
		return h.applyCollect(at, ids, o.Channels), nil
	case opLease:
		h.applyLease(o.Node, o.Time)
		return nil, nil
	case opHold:
		h.applyHold(o.Node, o.Marks)
		return nil, nil
	case opRelease:
		h.applyRelease(o.Node, o.Marks)
		return nil, nil
	case opVoid:
		h.repl.applyVoid(o.Void, o.Time)
		return nil, nil
	case opNop, opSnapshot:
		return nil, nil
	}
	return nil, fmt.Errorf("apply %q: unknown or incomplete op", o.Kind)
}

// appendAsync appends o without waiting for it to be applied; failures
// are counted and logged. It reports whether the log took the entry.
func (h *Hub) appendAsync(o op) bool {
	o.Node = h.repl.node
	if o.Time == 0 {
		o.Time = h.cfg.Now().UnixNano()
	}
	body, err := json.Marshal(o)
	if err != nil {
		h.log.Error().Err(err).Str("op", o.Kind).Msg("encoding a log entry")
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ReplicateTimeout)
	defer cancel()
	if _, err := h.repl.log.Append(ctx, body); err != nil {
		h.stats.BrokerErrors.Add(1)
		h.log.Warn().Err(err).Str("op", o.Kind).Msg("log append failed")
		return false
	}
	return true
}

// runCluster follows the log and runs the clustered node's periodic work
// until ctx is done.
func (h *Hub) runCluster(ctx context.Context) error {
	r := h.repl
	after := ""
	for ctx.Err() == nil {
		id, state, err := r.log.LoadSnapshot(ctx)
		if err == nil {
			if len(state) > 0 {
				if err := h.restore(state); err != nil {
					return fmt.Errorf("restore snapshot %s: %w", id, err)
				}
			}
			after = id
			break
		}
		h.log.Warn().Err(err).Msg("loading the snapshot failed; retrying")
		if !sleepCtx(ctx, time.Second) {
			return nil
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if h.dpn != nil {
		h.dpn.open()
		wg.Go(func() { h.dpn.run(ctx) })
	}
	// After an outage the backend may have come back empty (a Redis
	// without persistence): the node then writes a snapshot at once, so
	// that a node starting later finds the cluster's state.
	var outage atomic.Bool
	wg.Go(func() {
		err := r.log.Follow(ctx, after, h.apply, func(err error) {
			outage.Store(true)
			r.broken.Store(true)
			h.stats.BrokerErrors.Add(1)
			h.log.Warn().Err(err).Msg("following the log failed; retrying")
			if errors.Is(err, ErrReset) {
				h.redoMarks()
			}
		})
		if err != nil {
			h.log.Error().Err(err).Msg("following the log stopped")
		}
	})
	for ctx.Err() == nil {
		if err := h.Sync(ctx); err == nil {
			r.caughtUp.Store(true)
			close(r.caughtUpC)
			break
		}
	}
	wg.Go(func() { h.runLeases(ctx) })
	h.adoptHeld()
	wg.Go(func() { h.runAnnounce(ctx) })
	gc := time.NewTicker(h.cfg.GCInterval)
	defer gc.Stop()
	lastSnap := r.applied.Load()
	// A node that starts gives the connections it found a whole
	// ConnTimeout to come back before it asks for a collection (after a
	// restart of the only node, nobody renewed them meanwhile); after an
	// outage, during which no node could append its lease or its holds,
	// it waits as long again, so that every node is heard first.
	holdCollect := h.cfg.Now().Add(h.cfg.ConnTimeout)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-gc.C:
			now := h.cfg.Now()
			n := r.applied.Load()
			recovered := outage.Load() && r.log.Ping(ctx) == nil
			if recovered {
				outage.Store(false)
				holdCollect = later(holdCollect, now.Add(h.cfg.ConnTimeout))
			}
			if now.After(holdCollect) {
				h.tickCollect(ctx, &wg, now)
			}
			if recovered || n-lastSnap >= int64(h.cfg.SnapshotEvery) {
				lastSnap = n
				h.appendAsync(op{Kind: opSnapshot})
			}
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
