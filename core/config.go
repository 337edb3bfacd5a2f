package core

import (
	"time"

	"github.com/rs/zerolog"
)

// Config configures a Hub. The zero value works: New fills every default.
type Config struct {
	// ConnTimeout is how long a connection may stay inactive before the
	// collector removes it. Default 15 s.
	ConnTimeout time.Duration
	// UserTimeout is how long a user with no connection is remembered.
	// Default 24 h.
	UserTimeout time.Duration
	// GCInterval is how often the collector runs. Default 1 s.
	GCInterval time.Duration
	// MaxHistory caps every channel's history; history_size 0 means this.
	// Default 1000.
	MaxHistory int
	// ChannelFrames is how many message frames a channel keeps so that edits
	// and deletes find them. Default 100.
	ChannelFrames int
	// UserFrames is how many private-message frames a user keeps. Default 50.
	UserFrames int
	// QueueFrames bounds each connection's queue in frames. Default 1000.
	QueueFrames int
	// QueueBytes bounds each connection's queue in encoded bytes. Default 1 MiB.
	QueueBytes int
	// MaxChannelsPerConn is how many channels one connection may be in;
	// Connect and Subscribe beyond it fail with a LimitError. Default 1000.
	MaxChannelsPerConn int
	// MaxConnsPerUser is how many connections one user may have at once;
	// Connect beyond it fails with a LimitError. Default 100.
	MaxConnsPerUser int
	// MaxConnections is how many connections the hub holds at once;
	// Connect beyond it fails with a LimitError. Default 100 000.
	MaxConnections int
	// MaxChannels is how many channels the hub holds at once; Connect,
	// Subscribe and ConfigureChannels that would create more fail with a
	// LimitError. The collector removes a channel with no connection and
	// no history after ConnTimeout. Default 100 000.
	MaxChannels int
	// MaxMessageBytes bounds one message's encoded payload (the JSON object
	// a client receives), in bytes; Publish of a larger one fails with a
	// LimitError. Default 65536 (64 KiB).
	MaxMessageBytes int
	// MaxStateKeys is how many state keys one user may have; updates that
	// would add more fail with a LimitError. Default 100.
	MaxStateKeys int
	// MaxStateValueBytes bounds each state key and each string or number
	// state value, in bytes. Default 4096 (4 KiB).
	MaxStateValueBytes int
	// ObserveWrite, when set, receives the publish→write latency of every
	// frame a transport reports written (Session.Written): the time from
	// the frame's encoding to the end of the write that carried it, by the
	// hub's clock (Now). It is called on the transport's writer goroutine,
	// once per frame, and must be cheap and never block (a Prometheus
	// histogram's Observe). Default: none (latency is not measured).
	ObserveWrite func(time.Duration)
	// Log, when set, makes the hub one node of a cluster: every change goes
	// through the log and every node applies the log's entries in order
	// (see cluster.go). Default: none (one node, everything in memory).
	Log Log
	// DataPlane, set together with Log, carries the cluster's messages,
	// presence and state frames and the channels' history (DESIGN.md,
	// "Many nodes share the work"): the log then carries only the rare
	// changes, and a node queues frames only for the connections whose
	// transport it holds. Ignored without Log. Default: none.
	DataPlane DataPlane
	// StatsBoard, in data-plane mode (Log and DataPlane set), adds up the
	// nodes' message counters: each node posts its own every GCInterval
	// (when they changed, and at least every minute) and admin.json's
	// total_messages and total_unique_messages are the board's totals, the
	// same on every node. Ignored in other modes (one node counts
	// everything; in a replicated cluster every node counts the same).
	// Default: none (admin.json shows this node's counters).
	StatsBoard StatsBoard
	// NodeID names this node in the log's entries. Default: a random UUID.
	NodeID string
	// ReplicateTimeout bounds how long a change waits for the log to store
	// and return it before failing with ErrUnavailable. Default 5 s.
	ReplicateTimeout time.Duration
	// SnapshotEvery is how many applied entries separate two snapshots this
	// node writes to the log (a node that starts later loads the newest
	// one). Default 10 000.
	SnapshotEvery int
	// Logger receives the hub's logs. Default: the zero Logger, which is
	// disabled (like zerolog.Nop()).
	Logger zerolog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.ConnTimeout <= 0 {
		c.ConnTimeout = 15 * time.Second
	}
	if c.UserTimeout <= 0 {
		c.UserTimeout = 24 * time.Hour
	}
	if c.GCInterval <= 0 {
		c.GCInterval = time.Second
	}
	if c.MaxHistory <= 0 {
		c.MaxHistory = 1000
	}
	if c.ChannelFrames <= 0 {
		c.ChannelFrames = 100
	}
	if c.UserFrames <= 0 {
		c.UserFrames = 50
	}
	if c.QueueFrames <= 0 {
		c.QueueFrames = 1000
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 1 << 20
	}
	if c.MaxChannelsPerConn <= 0 {
		c.MaxChannelsPerConn = 1000
	}
	if c.MaxConnsPerUser <= 0 {
		c.MaxConnsPerUser = 100
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 100_000
	}
	if c.MaxChannels <= 0 {
		c.MaxChannels = 100_000
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 64 << 10
	}
	if c.MaxStateKeys <= 0 {
		c.MaxStateKeys = 100
	}
	if c.MaxStateValueBytes <= 0 {
		c.MaxStateValueBytes = 4 << 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NodeID == "" {
		c.NodeID = NewUUID()
	}
	if c.ReplicateTimeout <= 0 {
		c.ReplicateTimeout = 5 * time.Second
	}
	if c.SnapshotEvery <= 0 {
		c.SnapshotEvery = 10_000
	}
	return c
}
