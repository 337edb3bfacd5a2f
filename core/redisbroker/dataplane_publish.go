package redisbroker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
)

// Publishing is a group commit: up to maxBatches batches of publications
// are on their way to Redis at a time, and the Publish calls that arrive
// while all of them are wait and go together in the next batch, sent by
// the first of them. A batch is one
// publish script call per partition it touches, all in one pipeline (one
// write and one read) on one server, at the same time on a Redis Cluster.
// A call alone (no batch in flight) goes at once, so an idle node pays no
// latency for it; a busy node pays one round trip, one pool checkout and
// one script call per batch instead of per publication, and Redis answers
// the batch in one event-loop turn.
//
// With Config.PublishLinger, a call that would go at once waits that long
// first, and the calls arriving meanwhile join its batch: at a steady rate
// below one call per round trip (where batches never form by themselves)
// this trades up to PublishLinger of latency for fewer round trips, fewer
// Redis wake-ups and fewer pub/sub reads on the receiving nodes. It does
// so only when the previous call came less than PublishLinger before:
// when calls are further apart, none would join, and the wait would cost
// latency and a timer wake-up for nothing.

// maxBatches is how many batches may be in flight at once: as many
// concurrent calls as this go out each on its own, as before batching.
const maxBatches = 4

// maxBatchPubs is about the most publications a batch takes: the calls
// queued beyond it wait for the next one (a call is never split).
const maxBatchPubs = 512

// publishQueue holds the Publish calls waiting for the batch in flight.
type publishQueue struct {
	mu      sync.Mutex
	sending int            // batches in flight (a gathering one included)
	waiting []*publishCall // arrived while maxBatches were
	// gathering is the batch lingering before it goes (Config.PublishLinger),
	// its first call the one that sends it; nil when none.
	gathering []*publishCall
	gathered  int       // publications in gathering
	last      time.Time // when the latest call came (with a linger only)
}

// publishCall is one Publish call.
type publishCall struct {
	pubs []core.Publication
	out  []core.Pos
	err  error // the call's outcome (before wrap); set before wake
	// lead, set (under publishQueue.mu) before wake, is the batch this
	// call must send: it was the first waiting when the previous batch
	// came back.
	lead []*publishCall
	wake chan struct{} // one send: done, or lead
}

// Publish implements core.DataPlane: see publishQueue. Publications of one
// call to one partition go in one script call, in the order given.
func (d *DataPlane) Publish(ctx context.Context, pubs []core.Publication) ([]core.Pos, error) {
	if err := core.CheckPublications(pubs); err != nil {
		return nil, err
	}
	c := &publishCall{pubs: pubs, out: make([]core.Pos, len(pubs)), wake: make(chan struct{}, 1)}
	q := &d.batch
	q.mu.Lock()
	linger := q.linger(d.cfg.PublishLinger)
	switch {
	case q.gathering != nil && q.gathered+len(pubs) <= maxBatchPubs:
		q.gathering = append(q.gathering, c)
		q.gathered += len(pubs)
	case q.gathering == nil && q.sending < maxBatches:
		q.sending++
		if !linger {
			q.mu.Unlock()
			d.sendBatches(ctx, []*publishCall{c})
			return c.out, d.publishErr(ctx, c)
		}
		q.gathering, q.gathered = []*publishCall{c}, len(pubs)
		q.mu.Unlock()
		time.Sleep(d.cfg.PublishLinger) // the others' calls depend on it: not cut short by ctx
		q.mu.Lock()
		batch := q.gathering
		q.gathering, q.gathered = nil, 0
		q.mu.Unlock()
		d.sendBatches(ctx, batch)
		return c.out, d.publishErr(ctx, c)
	default:
		q.waiting = append(q.waiting, c)
	}
	q.mu.Unlock()
	select {
	case <-c.wake:
	case <-ctx.Done():
		q.mu.Lock()
		if i := slices.Index(q.waiting, c); i >= 0 {
			q.waiting = slices.Delete(q.waiting, i, i+1)
			q.mu.Unlock()
			return make([]core.Pos, len(pubs)), wrap(ctx, "publish", fmt.Errorf("%w: %w", core.ErrNotStored, ctx.Err()))
		}
		if i := slices.Index(q.gathering, c); i > 0 { // 0 is the call that sends it
			q.gathering = slices.Delete(q.gathering, i, i+1)
			q.gathered -= len(pubs)
			q.mu.Unlock()
			return make([]core.Pos, len(pubs)), wrap(ctx, "publish", fmt.Errorf("%w: %w", core.ErrNotStored, ctx.Err()))
		}
		lead := c.lead
		q.mu.Unlock()
		if lead == nil {
			// In a batch under way: its outcome is unknown to this caller.
			return make([]core.Pos, len(pubs)), wrap(ctx, "publish", ctx.Err())
		}
		<-c.wake
		go d.sendBatches(context.WithoutCancel(ctx), lead) // the others wait for it
		return make([]core.Pos, len(pubs)), wrap(ctx, "publish", ctx.Err())
	}
	if c.lead != nil {
		d.sendBatches(ctx, c.lead)
	}
	return c.out, d.publishErr(ctx, c)
}

// linger reports whether a call that would go at once is to wait d for
// others first: d > 0 and the previous call came less than d ago; it notes
// the call's time (when d > 0). Caller holds q.mu.
func (q *publishQueue) linger(d time.Duration) bool {
	if d <= 0 {
		return false
	}
	now := time.Now()
	recent := now.Sub(q.last) < d
	q.last = now
	return recent
}

// sendBatches sends batch (calls taken from the queue, or the caller's
// own), then hands the calls queued meanwhile to the first of them, and
// wakes the others of batch. The sending outlives the caller's ctx (other
// calls depend on it): it is bounded by CommandTimeout.
func (d *DataPlane) sendBatches(ctx context.Context, batch []*publishCall) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.CommandTimeout)
	d.sendBatch(bctx, batch)
	cancel()
	q := &d.batch
	q.mu.Lock()
	var next []*publishCall
	n := 0
	for len(q.waiting) > 0 && (n == 0 || n+len(q.waiting[0].pubs) <= maxBatchPubs) {
		n += len(q.waiting[0].pubs)
		next = append(next, q.waiting[0])
		q.waiting = q.waiting[1:]
	}
	if len(next) > 0 {
		next[0].lead = next
	} else {
		q.sending--
		q.waiting = nil // drop the spent backing array
	}
	q.mu.Unlock()
	if len(next) > 0 {
		next[0].wake <- struct{}{}
	}
	for _, c := range batch {
		c.wake <- struct{}{}
	}
}

// pubRef is one publication of a batch: pubs[i] of call c.
type pubRef struct {
	c *publishCall
	i int
}

// partBatch is the publications of a batch to one partition, in call
// order, then in each call's order.
type partBatch struct {
	k    int
	refs []pubRef
	err  error
}

// sendBatch stores the publications of calls, one script call per
// partition, and sets each call's out and err.
func (d *DataPlane) sendBatch(ctx context.Context, calls []*publishCall) {
	var parts []*partBatch
	at := make([]int32, len(d.parts)) // partition -> index in parts + 1
	for _, c := range calls {
		for i := range c.pubs {
			k := d.Partition(c.pubs[i].Stream)
			if at[k] == 0 {
				parts = append(parts, &partBatch{k: k})
				at[k] = int32(len(parts))
			}
			p := parts[at[k]-1]
			p.refs = append(p.refs, pubRef{c, i})
		}
	}
	cmds := make([][]any, len(parts))
	for j, p := range parts {
		cmds[j] = d.publishArgs(p)
	}
	replies, errs := publishLua.runAll(ctx, d.rdb, cmds)
	for j, p := range parts {
		p.err = cmp.Or(errs[j], d.parsePublish(p, replies[j]))
	}
	for _, c := range calls {
		c.err = callErr(c, parts, at)
	}
}

// publishArgs are the keys and arguments of p's script call: the number
// of keys, the keys, then the arguments (see publishScript).
func (d *DataPlane) publishArgs(p *partBatch) []any {
	pk := d.parts[p.k]
	keys := make([]any, 0, 2+2*len(p.refs))
	args := make([]any, 0, 3+5*len(p.refs))
	keys = append(keys, 1+2*len(p.refs), pk.ctr)
	args = append(args, epochCandidate(), d.cfg.StreamMaxLen, d.cfg.StreamMaxAge.Milliseconds())
	for _, r := range p.refs {
		pub := &r.c.pubs[r.i]
		sk := pk.stream(pub.Stream)
		hk := sk
		if pub.History.Kind != core.HistoryNone {
			hk = pk.history(pub.Stream.Name)
		}
		keys = append(keys, sk, hk)
		args = append(args, pub.Data, int(pub.History.Kind), pub.History.ID, encodeFields(pub.History.Fields), pub.History.Limit)
	}
	return append(keys, args...)
}

// parsePublish decodes p's script reply into its calls' out.
func (d *DataPlane) parsePublish(p *partBatch, v any) error {
	if v == nil {
		return nil // failed: errs says why
	}
	r, ok := v.([]any)
	if !ok || len(r) != 2+len(p.refs) {
		return fmt.Errorf("publish script answered %v", v)
	}
	ep, err := parseEpoch(r[0])
	if err != nil {
		return err
	}
	for j, ref := range p.refs {
		n, _ := r[2+j].(int64)
		ref.c.out[ref.i] = core.Pos{Partition: p.k, N: uint64(n), Epoch: ep}
	}
	return nil
}

// callErr is c's outcome: the first error of the partitions it touched,
// wrapping core.ErrNotStored when every one of them failed and certainly
// stored nothing. at maps a partition to its index in parts + 1.
func callErr(c *publishCall, parts []*partBatch, at []int32) error {
	var first error
	sure := true // every failed partition certainly stored nothing
	failed := 0
	var seen []int32 // indexes in parts of the partitions counted
	for i := range c.pubs {
		j := at[core.PartitionOf(c.pubs[i].Stream, len(at))] - 1
		if slices.Contains(seen, j) {
			continue
		}
		seen = append(seen, j)
		if err := parts[j].err; err != nil {
			failed++
			first = cmp.Or(first, err)
			sure = sure && notStored(err)
		}
	}
	if first != nil && sure && failed == len(seen) {
		return fmt.Errorf("%w: %w", core.ErrNotStored, first)
	}
	return first
}

// publishErr is c's error as Publish returns it.
func (d *DataPlane) publishErr(ctx context.Context, c *publishCall) error {
	return wrap(ctx, "publish", c.err)
}

// runAll runs s once per element of calls (each: the number of keys, the
// keys, the arguments), and returns each reply or error. On one server the
// calls go in one pipeline (one write, one read); on a Redis Cluster, each
// on its own, at the same time. Calls the server answers NOSCRIPT are sent
// again with EVAL (nothing was run).
func (s script) runAll(ctx context.Context, rdb redis.UniversalClient, calls [][]any) ([]any, []error) {
	replies, errs := make([]any, len(calls)), make([]error, len(calls))
	run := func(idx []int, verb, body string) {
		cmds := make([]noRetryCmd, len(idx))
		for j, i := range idx {
			cmds[j] = noRetryCmd{redis.NewCmd(ctx, append([]any{verb, body}, calls[i]...)...)}
		}
		_, cluster := rdb.(*redis.ClusterClient)
		switch {
		case len(cmds) == 1:
			_ = rdb.Process(ctx, cmds[0])
		case cluster:
			var wg sync.WaitGroup
			for _, c := range cmds {
				wg.Go(func() { _ = rdb.Process(ctx, c) })
			}
			wg.Wait()
		default:
			pipe := rdb.Pipeline()
			for _, c := range cmds {
				_ = pipe.Process(ctx, c)
			}
			_, _ = pipe.Exec(ctx)
		}
		for j, i := range idx {
			replies[i], errs[i] = cmds[j].Result()
		}
	}
	all := make([]int, len(calls))
	for i := range all {
		all[i] = i
	}
	run(all, "evalsha", s.sha)
	var again []int
	for i, err := range errs {
		if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		run(again, "eval", s.src)
	}
	return replies, errs
}
