package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
)

// Follow implements core.Log. It reads the stream with XREAD BLOCK on a
// connection of its own, from after ("" is "0-0", the start), calls fn with
// each entry in stream order from the calling goroutine, and returns nil
// once ctx is done or the Log is closed (a blocked read is interrupted at
// once). While Redis cannot be reached it calls onErr (which may be nil)
// with each failure, waits (growing up to Config.MaxBackoff) and tries
// again from the last entry it delivered. When Redis comes back with a new
// data set (restarted without persistence, or flushed) it follows the new
// stream from its start: see the package doc. It returns an error only when
// after is not a Redis stream id.
func (l *Log) Follow(ctx context.Context, after string, fn func(core.Entry), onErr func(error)) error {
	var cursor streamID
	if after != "" {
		id, err := parseID(after)
		if err != nil {
			return fmt.Errorf("follow: %w", err)
		}
		cursor = id
	}
	f := &follower{log: l, cursor: cursor, fn: fn, onErr: onErr}
	rdb, err := l.cfg.newClient(clientConfig{
		poolSize:    1,
		readTimeout: l.cfg.BlockTimeout + l.cfg.CommandTimeout,
		onConnect:   f.checkEpoch,
	})
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	f.rdb = rdb
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(l.life, cancel)
	defer stopOnClose()

	// Closing the client ends a blocked XREAD at once.
	stopClose := context.AfterFunc(ctx, func() { _ = f.rdb.Close() })
	defer func() {
		if stopClose() {
			_ = f.rdb.Close()
		}
	}()

	f.run(ctx)
	return nil
}

// errNewDataSet is what checkEpoch returns when Redis holds a new data set.
var errNewDataSet = errors.New("redis holds a new data set (restarted empty or flushed)")

// follower is the state of one Follow call; only its goroutine touches it,
// except epoch, which checkEpoch reads when go-redis opens a connection.
type follower struct {
	log    *Log
	rdb    redis.UniversalClient  // PoolSize 1 (per master): the follower's own connection
	epoch  atomic.Pointer[string] // the data set's epoch the cursor belongs to; nil or "" to learn
	cursor streamID               // the last entry delivered (or the start point)
	fn     func(core.Entry)
	onErr  func(error)
}

// knownEpoch returns the epoch the cursor belongs to, "" if none yet.
func (f *follower) knownEpoch() string {
	if p := f.epoch.Load(); p != nil {
		return *p
	}
	return ""
}

// checkEpoch is the follower client's OnConnect hook. Any restart of Redis
// makes go-redis open a new connection, sometimes quietly (a stale idle
// connection is replaced before use); this check runs on it before the
// pending command, so a blocking XREAD from a cursor that belongs to the
// old stream is never sent: the command fails with errNewDataSet instead.
func (f *follower) checkEpoch(ctx context.Context, cn *redis.Conn) error {
	known := f.knownEpoch()
	if known == "" {
		return nil
	}
	cur, err := cn.Get(ctx, f.log.keys.epoch).Result()
	if isRedirect(err) {
		return nil // a connection to another master of a cluster
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if cur != known {
		return errNewDataSet
	}
	return nil
}

// restartFromNewStream forgets the epoch and the cursor, so that the next
// step learns the new epoch and reads the new stream from its start.
func (f *follower) restartFromNewStream() {
	f.log.cfg.Logger.Warn().Str("stream", f.log.keys.stream).Str("after", f.cursor.String()).
		Msg("redis log: the data set is new (Redis restarted empty or was flushed); following the new stream from its start")
	f.epoch.Store(nil)
	f.cursor = streamID{}
	if f.onErr != nil {
		f.onErr(fmt.Errorf("follow %s: %w", f.log.keys.stream, core.ErrReset))
	}
}

// run calls step until ctx is done, backing off after failures.
func (f *follower) run(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		err := f.step(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if failures > 0 {
				f.log.cfg.Logger.Info().Int("failures", failures).Str("stream", f.log.keys.stream).
					Msg("redis log: follow recovered")
				failures = 0
			}
			continue
		}
		failures++
		if f.onErr != nil {
			f.onErr(err)
		}
		ev := f.log.cfg.Logger.Debug()
		if failures == 1 {
			ev = f.log.cfg.Logger.Warn()
		}
		ev.Err(err).Int("failures", failures).Str("stream", f.log.keys.stream).
			Msg("redis log: follow failed; retrying")
		if !sleep(ctx, backoff(f.log.cfg.MaxBackoff, failures)) {
			return
		}
	}
}

// step reads once and delivers what it read. The read is a pipeline of
// GET epoch and XREAD BLOCK on the follower's one connection, so both
// replies come from the same life of the server: a restart breaks the
// connection and fails both.
func (f *follower) step(ctx context.Context) error {
	if f.knownEpoch() == "" {
		if err := f.learnEpoch(ctx); err != nil {
			return err
		}
	}
	pipe := f.rdb.Pipeline()
	epoch := pipe.Get(ctx, f.log.keys.epoch)
	read := pipe.XRead(ctx, &redis.XReadArgs{
		Streams: []string{f.log.keys.stream, f.cursor.String()},
		Count:   f.log.cfg.ReadCount,
		Block:   f.log.cfg.BlockTimeout,
	})
	if _, err := pipe.Exec(ctx); errors.Is(err, errNewDataSet) {
		f.restartFromNewStream()
		return nil
	} // otherwise each command holds its own error
	cur, err := epoch.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return wrap(ctx, "follow: read epoch", err)
	}
	if cur != f.knownEpoch() {
		f.restartFromNewStream()
		return nil
	}
	streams, err := read.Result()
	if errors.Is(err, redis.Nil) {
		return nil // BlockTimeout passed with no new entry
	}
	if err != nil {
		return wrap(ctx, "follow: read stream", err)
	}
	for _, s := range streams {
		for _, m := range s.Messages {
			id, err := parseID(m.ID)
			if err != nil {
				return fmt.Errorf("follow: read stream: %w", err)
			}
			if ctx.Err() != nil {
				return nil
			}
			op, _ := m.Values["op"].(string)
			f.fn(core.Entry{ID: m.ID, Op: []byte(op)})
			f.cursor = id
		}
	}
	return nil
}

// learnEpoch reads the data set's epoch, creating it when there is none
// (SET NX GET), and takes it as the one the cursor belongs to.
func (f *follower) learnEpoch(ctx context.Context) error {
	candidate := f.log.newEpoch()
	prev, err := f.rdb.SetArgs(ctx, f.log.keys.epoch, candidate, redis.SetArgs{Mode: "NX", Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		f.epoch.Store(&candidate)
	case err != nil:
		return wrap(ctx, "follow: learn epoch", err)
	default:
		f.epoch.Store(&prev)
	}
	return nil
}

// sleep waits for d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
