package websocket

import (
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
)

// Config configures a Handler. Only Hub is required: New fills every other
// field's default.
type Config struct {
	// Hub is the hub whose connections the handler attaches sockets to.
	// Required.
	Hub *core.Hub
	// HeartbeatInterval is how often an attached socket gets the heartbeat
	// (rounded up to a writer.PingSlots-th of it, spread within that while
	// frames flow): a WebSocket ping, preceded by the text frame [] unless
	// a batch went out since the last heartbeat.
	// Default 5 s.
	HeartbeatInterval time.Duration
	// WriteWait bounds every write (frames, heartbeats, pings, close
	// frames) and the opening handshake: a write the socket does not take
	// within it fails. Default 10 s.
	WriteWait time.Duration
	// PongWait is how long the socket may stay silent (no pong, no data
	// frame) before it is considered dead and detached; it is checked at
	// each heartbeat. It must exceed HeartbeatInterval, since pongs answer
	// the heartbeat pings: a smaller value is raised to the default.
	// Default 3 × HeartbeatInterval (two heartbeats may be lost).
	PongWait time.Duration
	// MaxMessageSize is the largest client frame accepted, in bytes; a larger
	// one closes the socket with 1009. Client frames only count as activity,
	// their content is ignored. Default 64 KiB.
	MaxMessageSize int64
	// ShutdownWindow is the window over which Shutdown spreads the closing of
	// open sockets (each at a random moment in it) so that clients do not
	// all reconnect at once. Default 10 s.
	ShutdownWindow time.Duration
	// CheckOrigin decides whether a handshake's Origin is accepted. Default:
	// every origin, as upstream channelstream (the conn_id is the secret).
	CheckOrigin func(r *http.Request) bool
	// Logger receives the handler's logs. Default: the zero Logger, which is
	// disabled (like zerolog.Nop()).
	Logger zerolog.Logger
}

// Defaults of Config.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultWriteWait         = 10 * time.Second
	DefaultMaxMessageSize    = 64 << 10
	DefaultShutdownWindow    = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Hub == nil {
		panic("websocket: Config.Hub is required")
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.WriteWait <= 0 {
		c.WriteWait = DefaultWriteWait
	}
	if c.PongWait <= c.HeartbeatInterval {
		c.PongWait = 3 * c.HeartbeatInterval
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.ShutdownWindow <= 0 {
		c.ShutdownWindow = DefaultShutdownWindow
	}
	if c.CheckOrigin == nil {
		c.CheckOrigin = allowAnyOrigin
	}
	return c
}

func allowAnyOrigin(*http.Request) bool { return true }
