package redisbroker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
)

var _ core.Log = (*Log)(nil)

// ErrNoSuchEntry is wrapped by SaveSnapshot's error when the id is after the
// last entry the stream has had.
var ErrNoSuchEntry = errors.New("no such entry in the log")

// Log is a core.Log kept in one Redis stream, shared by every node that
// uses the same Redis and KeyPrefix. See the package doc for the key layout,
// the concurrency contract and what happens when Redis restarts.
type Log struct {
	cfg  Config
	rdb  redis.UniversalClient // Append, snapshots, Ping; Follow opens its own
	keys keys

	// token and seq make epoch candidates unique (see newEpoch).
	token string
	seq   atomic.Uint64

	// life ends when Close is called; every Follow watches it.
	life    context.Context
	endLife context.CancelFunc
}

// logTag follows KeyPrefix in the name of each of the Log's keys: the hash
// tag that keeps them in one slot of a Redis Cluster (its scripts and
// pipelines use several at once).
const logTag = "{ctl}:"

// keys are the names of the Log's keys in Redis.
type keys struct {
	stream   string // the entries: XADD … op <bytes>
	snapshot string // hash: id, state
	epoch    string // random token naming this life of the data set
}

// New returns a Log that talks to the Redis at cfg.URL. It does not connect:
// the first call does, and Ping tells whether Redis answers. It fails only
// on a malformed configuration.
func New(cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("new redis log: %w", err)
	}
	rdb, err := cfg.newClient(clientConfig{readTimeout: cfg.CommandTimeout})
	if err != nil {
		return nil, fmt.Errorf("new redis log: %w", err)
	}
	var raw [8]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand)
	life, endLife := context.WithCancel(context.Background())
	return &Log{
		cfg: cfg,
		rdb: rdb,
		keys: keys{
			stream:   cfg.KeyPrefix + logTag + "log",
			snapshot: cfg.KeyPrefix + logTag + "snapshot",
			epoch:    cfg.KeyPrefix + logTag + "epoch",
		},
		token:   hex.EncodeToString(raw[:]),
		life:    life,
		endLife: endLife,
	}, nil
}

// Close ends every Follow (they return nil soon after) and closes the
// connections; calls made afterwards fail. It does not wait for Follow
// calls to return. Calling it again does nothing.
func (l *Log) Close() error {
	l.endLife()
	err := l.rdb.Close()
	if errors.Is(err, redis.ErrClosed) {
		return nil
	}
	return err
}

// Append implements core.Log: one XADD with an id Redis chooses, so the
// entry goes after every entry already stored. When it fails with
// core.ErrUnavailable after the command was sent (a timeout), the entry
// may be stored all the same.
func (l *Log) Append(ctx context.Context, op []byte) (string, error) {
	args := []any{"xadd", l.keys.stream}
	if l.cfg.MaxLen > 0 {
		args = append(args, "maxlen", "~", l.cfg.MaxLen)
	}
	cmd := noRetryStringCmd{redis.NewStringCmd(ctx, append(args, "*", "op", op)...)}
	_ = l.rdb.Process(ctx, cmd)
	id, err := cmd.Result()
	if err != nil {
		return "", wrapAppend(ctx, err)
	}
	return id, nil
}

// SaveSnapshot implements core.Log. One Lua script stores the snapshot and
// trims the entries before the previous snapshot's id (XTRIM MINID), so
// both happen or neither; the entries after the previous snapshot stay for
// a node that loaded it just before. A snapshot whose id is before the stored one's is ignored: the
// entries it would need are already gone, and LoadSnapshot keeps returning
// the newest by id. id must be a Redis stream id ("ms-seq") that the stream
// has reached: an id after its last entry (one from before a Redis
// restart, say) fails with ErrNoSuchEntry, since a node starting from that
// snapshot would skip entries.
func (l *Log) SaveSnapshot(ctx context.Context, id string, state []byte) error {
	sid, err := parseID(id)
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	keys := []string{l.keys.stream, l.keys.snapshot}
	res, err := saveSnapshotScript.Run(ctx, l.rdb, keys, sid.String(), state).Int()
	if err != nil {
		return wrap(ctx, "save snapshot at "+id, err)
	}
	if res < 0 {
		return fmt.Errorf("save snapshot at %s: %w", id, ErrNoSuchEntry)
	}
	return nil
}

// LoadSnapshot implements core.Log.
func (l *Log) LoadSnapshot(ctx context.Context) (string, []byte, error) {
	vals, err := l.rdb.HMGet(ctx, l.keys.snapshot, "id", "state").Result()
	if err != nil {
		return "", nil, wrap(ctx, "load snapshot", err)
	}
	id, _ := vals[0].(string)
	if id == "" {
		return "", nil, nil
	}
	state, _ := vals[1].(string)
	return id, []byte(state), nil
}

// Ping implements core.Log.
func (l *Log) Ping(ctx context.Context) error {
	return wrap(ctx, "ping redis", l.rdb.Ping(ctx).Err())
}

// newEpoch returns a token that no Log has used before, to name a new life
// of the data set (see the package doc).
func (l *Log) newEpoch() string {
	return fmt.Sprintf("%s-%d", l.token, l.seq.Add(1))
}
