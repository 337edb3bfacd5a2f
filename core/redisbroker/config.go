package redisbroker

import (
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Config configures a Log. The zero value works: New fills every default.
type Config struct {
	// URL locates the Redis server: redis://[user:password@]host:port/db,
	// rediss:// for TLS, or unix:///path/to/socket?db=N; or a Redis
	// Cluster: redis+cluster://[user:password@]host:port,host:port,…
	// (rediss+cluster:// for TLS), any masters of it (the client learns
	// the others). Default "redis://127.0.0.1:6379/0".
	URL string
	// KeyPrefix begins the name of every key the Log and the DataPlane use
	// (see the package doc for the layout). Nodes of one cluster share it;
	// give each cluster its own. It must not contain '{' or '}': the keys
	// carry their own hash tags. Default "channelstream:".
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
	// Partitions is how many partitions the DataPlane spreads its streams
	// over (core.PartitionOf); every node must use the same number, and
	// changing it makes the positions nodes and clients hold meaningless.
	// Default DefaultPartitions, at most MaxPartitions.
	Partitions int
	// StreamMaxLen is how many entries each DataPlane stream keeps: a
	// publish to a full stream drops its oldest entry (exactly).
	// Default 1 000 (a connection's queue holds 1 000 frames by default:
	// a client further behind gets a gap anyway).
	StreamMaxLen int
	// StreamMaxAge is how long a DataPlane stream keeps an entry: every
	// 8th publish to a partition (by its counter) trims the older ones of
	// the stream it publishes to, and a stream not published to for this
	// long disappears (then Read can no longer tell whether entries were
	// trimmed: keep it above the longest a client may stay away and
	// resume, the hub's connection timeout). Default 1 min.
	StreamMaxAge time.Duration
	// PublishLinger is how long a DataPlane publish waits for others to
	// go with it in one batch (one round trip, one script call per
	// partition) when no batch is on its way already; it adds up to that
	// much latency to a publish. Default 0: a publish goes at once, and
	// batches form only from the calls that arrive while others are on
	// their way.
	PublishLinger time.Duration
}

const defaultURL = "redis://127.0.0.1:6379/0"

// DefaultPartitions is Config.Partitions' default, MaxPartitions its
// largest value.
const (
	DefaultPartitions = 16
	MaxPartitions     = maxPartitions
)

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
	if c.Partitions <= 0 {
		c.Partitions = DefaultPartitions
	}
	if c.StreamMaxLen <= 0 {
		c.StreamMaxLen = 1000
	}
	if c.StreamMaxAge <= 0 {
		c.StreamMaxAge = time.Minute
	}
	return c
}

// check refuses a configuration the keys cannot be built from.
func (c Config) check() error {
	if c.Partitions > maxPartitions {
		return fmt.Errorf("%d partitions: at most %d", c.Partitions, maxPartitions)
	}
	if strings.ContainsAny(c.KeyPrefix, "{}") {
		return fmt.Errorf("key prefix %q contains '{' or '}': the keys carry their own hash tags", c.KeyPrefix)
	}
	return nil
}
