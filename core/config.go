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
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
