package redisbroker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
)

// StatsBoard returns the cluster's core.StatsBoard, kept next to the Log
// (same client, hash tag "{ctl}", so one slot of a Redis Cluster):
//
//	<prefix>{ctl}:stats      hash: "m" and "u", the totals of messages and
//	                         unique messages; "n:<id>", "<m> <u>" as id last
//	                         posted them
//	<prefix>{ctl}:stats:ids  sorted set: each id by the time of its last
//	                         post (unix ms, the poster's clock)
//
// Post is one Lua script: it adds to the totals what the id's counters
// grew since its last post, stores them, and forgets the ids not posted
// for core.StatsKeep (at most 100 per post). Totals is one HMGET. A Redis
// that came back empty starts the totals again from the posts that follow
// (each live node's counts since it started). Errors from an unreachable
// Redis wrap core.ErrUnavailable.
func (l *Log) StatsBoard() core.StatsBoard {
	return statsBoard{rdb: l.rdb, hash: l.cfg.KeyPrefix + logTag + "stats", ids: l.cfg.KeyPrefix + logTag + "stats:ids"}
}

type statsBoard struct {
	rdb       redis.UniversalClient
	hash, ids string
}

// postStatsScript is Post.
//
//	KEYS[1] stats hash, KEYS[2] ids sorted set
//	ARGV[1] id, ARGV[2] messages, ARGV[3] unique messages, ARGV[4] now
//	(unix ms), ARGV[5] keep (ms)
var postStatsScript = redis.NewScript(`
local field = 'n:' .. ARGV[1]
local m, u = tonumber(ARGV[2]), tonumber(ARGV[3])
local pm, pu = 0, 0
local prev = redis.call('HGET', KEYS[1], field)
if prev then
  local a, b = string.match(prev, '^(%d+) (%d+)$')
  pm, pu = tonumber(a), tonumber(b)
end
if m > pm then redis.call('HINCRBY', KEYS[1], 'm', string.format('%d', m - pm)) end
if u > pu then redis.call('HINCRBY', KEYS[1], 'u', string.format('%d', u - pu)) end
redis.call('HSET', KEYS[1], field, ARGV[2] .. ' ' .. ARGV[3])
local now = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], now, ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now - tonumber(ARGV[5])), 'LIMIT', 0, 100)
for _, id in ipairs(old) do
  redis.call('HDEL', KEYS[1], 'n:' .. id)
  redis.call('ZREM', KEYS[2], id)
end
return 1
`)

// Post implements core.StatsBoard.
func (b statsBoard) Post(ctx context.Context, id string, c core.Counters) error {
	if c.Messages < 0 || c.UniqueMessages < 0 {
		return fmt.Errorf("post stats of %q: negative counters %+v", id, c)
	}
	err := postStatsScript.Run(ctx, b.rdb, []string{b.hash, b.ids}, id, c.Messages, c.UniqueMessages,
		time.Now().UnixMilli(), core.StatsKeep.Milliseconds()).Err()
	if err != nil {
		return wrap(ctx, fmt.Sprintf("post stats of %q", id), err)
	}
	return nil
}

// Totals implements core.StatsBoard.
func (b statsBoard) Totals(ctx context.Context) (core.Counters, error) {
	vals, err := b.rdb.HMGet(ctx, b.hash, "m", "u").Result()
	if err != nil {
		return core.Counters{}, wrap(ctx, "read stats totals", err)
	}
	var out [2]int64
	for i, v := range vals {
		if v == nil {
			continue
		}
		s, _ := v.(string)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return core.Counters{}, fmt.Errorf("read stats totals: field %d is %q: %w", i, s, err)
		}
		out[i] = n
	}
	return core.Counters{Messages: out[0], UniqueMessages: out[1]}, nil
}
