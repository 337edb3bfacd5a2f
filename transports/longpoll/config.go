package longpoll

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
)

// NoGather, as Config.Gather, makes a poll answer as soon as its first frame
// is there (longpoll_gather = 0).
const NoGather time.Duration = -1

// Config configures a Handler. Only Hub is required; the zero value of every
// other field is its default.
type Config struct {
	// Hub is the hub whose connections the polls attach to. Required.
	Hub *core.Hub
	// Timeout is the longest a poll waits for its first frame before it
	// answers "[]" (longpoll_timeout); it also caps the gathering that
	// follows the first frame. Keep it well under the hub's ConnTimeout.
	// Default 5 s.
	Timeout time.Duration
	// Gather is the quiet gap that ends the gathering: once a frame is
	// there, the poll keeps collecting until no new frame came for Gather
	// (longpoll_gather). Default 250 ms; NoGather (any negative value)
	// answers at once.
	Gather time.Duration
	// MaxFrames caps the frames in one response; the rest wait for the
	// next poll. Default 1000.
	MaxFrames int
	// Logger receives per-poll debug logs and write errors. Default: the
	// zero Logger, which is disabled (like zerolog.Nop()).
	Logger zerolog.Logger
}

// Defaults used by New for zero fields.
const (
	DefaultTimeout   = 5 * time.Second
	DefaultGather    = 250 * time.Millisecond
	DefaultMaxFrames = 1000
)

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Gather == 0 {
		c.Gather = DefaultGather
	}
	if c.MaxFrames <= 0 {
		c.MaxFrames = DefaultMaxFrames
	}
	return c
}
