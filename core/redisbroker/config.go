package redisbroker

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/rs/zerolog"
)

// Config configures a Log. The zero value works: New fills every default.
type Config struct {
	// URL locates the Redis server: redis://[user:password@]host:port/db,
	// rediss:// for TLS, or unix:///path/to/socket?db=N.
	// Default "redis://127.0.0.1:6379/0".
	URL string
	// KeyPrefix begins the name of every key the Log uses (see the package
	// doc for the layout). Nodes of one cluster share it; give each cluster
	// its own. For Redis Cluster, put a hash tag in it ("{cs}:") so that
	// all the keys live in one slot. Default "channelstream:".
	KeyPrefix string
	// Logger receives the Log's logs (Follow's outages and recoveries, a
	// stream recreated by a Redis restart). Default: the zero Logger, which
	// is disabled (like zerolog.Nop()).
	Logger zerolog.Logger
	// MaxLen caps the stream at about this many entries (XADD MAXLEN ~;
	// Redis trims whole blocks of entries, so the stream may hold up to
	// about 100 more). Entries dropped by the cap are lost to a node that
	// has not read them yet, or that starts from a snapshot older than
	// them, so set it only as a guard against unbounded growth, well above
	// what SaveSnapshot keeps. Default 0: no cap (SaveSnapshot trims).
	MaxLen int64
	// DialTimeout bounds the opening of one connection to Redis.
	// Default 2 s.
	DialTimeout time.Duration
	// CommandTimeout bounds one command's network write and read; the
	// caller's ctx deadline, when sooner, bounds it too (a blocked XREAD
	// gets BlockTimeout more). Default 3 s.
	CommandTimeout time.Duration
	// BlockTimeout is how long one XREAD of Follow waits on the server for
	// new entries before it asks again. It bounds how long a dead
	// connection goes unnoticed, not how fast entries arrive (a new entry
	// ends the wait at once). Default 5 s.
	BlockTimeout time.Duration
	// MaxBackoff caps the wait between two attempts of Follow while Redis
	// cannot be reached; the wait starts at 1/20 of it and doubles.
	// Default 1 s.
	MaxBackoff time.Duration
	// ReadCount is the most entries one XREAD of Follow returns.
	// Default 1000.
	ReadCount int64
}

const defaultURL = "redis://127.0.0.1:6379/0"

// withDefaults fills every field left at its zero value.
func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = defaultURL
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "channelstream:"
	}
	if c.MaxLen < 0 {
		c.MaxLen = 0
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 3 * time.Second
	}
	if c.BlockTimeout <= 0 {
		c.BlockTimeout = 5 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Second
	}
	if c.ReadCount <= 0 {
		c.ReadCount = 1000
	}
	return c
}

// options builds go-redis options for a client of poolSize connections
// whose reads wait at most readTimeout.
//
// Retries are off: a retried XADD whose first try reached Redis would store
// the op twice, and the callers retry by themselves (the hub on its level,
// Follow in its loop). One dial attempt per connection, so that a stopped
// Redis fails a call at once. Connections are checked before reuse by
// go-redis, so the first call after Redis restarts opens a new one.
func (c Config) options(poolSize int, readTimeout time.Duration) (*redis.Options, error) {
	opt, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	opt.PoolSize = poolSize
	opt.PipelinePoolSize = -1 // pipelines share the pool (Follow's one connection)
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.DialTimeout = c.DialTimeout
	opt.ReadTimeout = readTimeout
	opt.WriteTimeout = c.CommandTimeout
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true // CLIENT SETINFO is Redis 7.2+; skip its round trip
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opt, nil
}
