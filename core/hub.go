package core

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Hub holds every user, connection and channel of one node and routes
// frames to connections. Create it with New.
type Hub struct {
	cfg     Config
	log     zerolog.Logger
	started time.Time

	mu       sync.RWMutex
	users    map[string]*User
	conns    map[uuid16]*Conn
	channels map[string]*Channel

	draining atomic.Bool
	stats    Stats

	// repl is set when Config.Log is: the hub then submits every change
	// to the log and applies the log's entries (cluster.go). leases are
	// the nodes' last lease times (lease.go), guarded by mu.
	repl   *replicator
	leases map[string]int64
	// dp is Config.DataPlane when Config.Log is set too (data-plane mode:
	// messages travel through dp, not through the log); nil otherwise.
	dp DataPlane
	// dpn is the node's live side in data-plane mode (dataplane_route.go).
	dpn *dpNode
	// dpgc is this node's state for collection in data-plane mode
	// (gc_cluster.go).
	dpgc dpCollector
	// lastTotals are the last totals read from Config.StatsBoard.
	lastTotals atomic.Pointer[Counters]
}

// New returns a hub with cfg's defaults filled in. Call Run to start its
// collector.
func New(cfg Config) *Hub {
	cfg = cfg.withDefaults()
	h := &Hub{
		cfg:      cfg,
		log:      cfg.Logger,
		started:  cfg.Now(),
		users:    map[string]*User{},
		conns:    map[uuid16]*Conn{},
		channels: map[string]*Channel{},
	}
	if cfg.Log != nil {
		h.repl = newReplicator(cfg.Log, cfg.NodeID)
		h.leases = map[string]int64{}
		h.dp = cfg.DataPlane
		if h.dp != nil {
			h.dpn = newDPNode(h, h.dp)
		}
	}
	return h
}

// Config returns the hub's configuration with defaults filled in.
func (h *Hub) Config() Config { return h.cfg }

func (h *Hub) queueLimits() queueLimits {
	return queueLimits{frames: h.cfg.QueueFrames, bytes: h.cfg.QueueBytes}
}

// Connect creates or reuses the user and the connection, and subscribes the
// connection to p.Channels (creating missing channels with their configs).
// A ConnID that belongs to another user fails with ErrConnOwned and changes
// nothing; one of the same user reuses that connection. A request that
// would pass a limit of Config fails with a *LimitError and changes nothing.
func (h *Hub) Connect(ctx context.Context, p ConnectParams) (ConnectResult, error) {
	if h.repl == nil {
		return h.applyConnect(h.cfg.Now(), nil, p, nil)
	}
	// fresh_user_state is checked when applying only: it does not apply
	// to a user who exists.
	if err := h.precheck(p.Channels, stateUpdate{"user_state", p.UserState}); err != nil {
		return ConnectResult{}, fmt.Errorf("connect %q: %w", p.Username, err)
	}
	if p.ConnID == "" {
		p.ConnID = NewUUID()
	}
	joins, err := h.joinsFor(ctx, p.Channels, p.Username)
	if err != nil {
		return ConnectResult{}, fmt.Errorf("connect %q: %w", p.Username, err)
	}
	res, err := submit[ConnectResult](ctx, h, op{Kind: opConnect, Connect: &p, Joins: joins})
	if err == nil {
		h.addHistory(ctx, &res.ChannelsInfo, p.Info)
	}
	return res, err
}

// Subscribe adds the connection to channels (creating missing ones). More
// than MaxChannelsPerConn channels for the connection, or than MaxChannels
// on the hub, fail with a *LimitError and change nothing.
func (h *Hub) Subscribe(ctx context.Context, p SubscribeParams) (SubscribeResult, error) {
	if h.repl == nil {
		return h.applySubscribe(h.cfg.Now(), nil, p, nil)
	}
	if err := h.precheck(p.Channels); err != nil {
		return SubscribeResult{}, fmt.Errorf("subscribe %q: %w", p.ConnID, err)
	}
	joins, err := h.joinsFor(ctx, p.Channels, "")
	if err != nil {
		return SubscribeResult{}, fmt.Errorf("subscribe %q: %w", p.ConnID, err)
	}
	res, err := submit[SubscribeResult](ctx, h, op{Kind: opSubscribe, Subscribe: &p, Joins: joins})
	if err == nil {
		h.addHistory(ctx, &res.ChannelsInfo, p.Info)
	}
	return res, err
}

// Unsubscribe removes the connection from channels; unknown names are
// ignored. Presence "parted" is sent only when membership changed.
func (h *Hub) Unsubscribe(ctx context.Context, p SubscribeParams) (UnsubscribeResult, error) {
	if h.repl == nil {
		return h.applyUnsubscribe(h.cfg.Now(), nil, p)
	}
	res, err := submit[UnsubscribeResult](ctx, h, op{Kind: opUnsubscribe, Subscribe: &p})
	if err == nil {
		h.addHistory(ctx, &res.ChannelsInfo, p.Info)
	}
	return res, err
}

// SetUserState merges state into a known user's state and emits
// user_state_change in every notify_state channel the user is in when any
// key changed. More than MaxStateKeys keys, or a key or value larger than
// MaxStateValueBytes, fail with a *LimitError and change nothing.
func (h *Hub) SetUserState(ctx context.Context, p UserStateParams) (UserStateResult, error) {
	if h.repl == nil {
		return h.applyUserState(h.cfg.Now(), nil, p)
	}
	if err := h.precheck(nil, stateUpdate{"user_state", p.State}); err != nil {
		return UserStateResult{}, fmt.Errorf("user_state %q: %w", p.User, err)
	}
	return submit[UserStateResult](ctx, h, op{Kind: opUserState, UserState: &p})
}

// ConfigureChannels sets every given channel's config (creating missing
// channels) and describes them without history and users. Creating more
// channels than MaxChannels fails with a *LimitError and changes nothing;
// otherwise it fails only when a Log is set and cannot be reached
// (ErrUnavailable).
func (h *Hub) ConfigureChannels(ctx context.Context, configs map[string]ChannelConfig) (ChannelsInfo, error) {
	if h.repl == nil {
		return h.applyConfigure(h.cfg.Now(), nil, configs)
	}
	return submit[ChannelsInfo](ctx, h, op{Kind: opConfigure, Configs: configs})
}

// Disconnect removes the connection at once: its transport is closed with
// DisconnectGone and presence "parted" goes out where it applies. It
// reports whether the connection was known. It fails only when a Log is
// set and cannot be reached (ErrUnavailable).
func (h *Hub) Disconnect(ctx context.Context, connID string) (bool, error) {
	if h.repl == nil {
		return h.applyDisconnect(h.cfg.Now(), nil, connID), nil
	}
	return submit[bool](ctx, h, op{Kind: opDisconnect, ConnID: connID})
}

// Drain makes the hub refuse new transport attachments (see ErrDraining).
func (h *Hub) Drain() { h.draining.Store(true) }

// Draining reports whether Drain was called.
func (h *Hub) Draining() bool { return h.draining.Load() }

// HasUser reports whether the hub holds the user now. Unlike HasConn it
// does not catch up with a cluster's log: it serves error reports only.
func (h *Hub) HasUser(name string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.users[name] != nil
}

// HasConn reports whether the connection id is known. A clustered hub
// that does not know it first catches up with the log (for at most a few
// seconds), so that a connection just made on another node is found.
func (h *Hub) HasConn(connID string) bool {
	return h.lookupConn(connID) != nil
}
