package core

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
	conns    map[string]*Conn
	channels map[string]*Channel

	draining atomic.Bool
	stats    Stats

	// repl is set when Config.Log is: the hub then applies every change
	// through the log (cluster.go). ids, when set, makes the ids of the
	// entry being applied; only the goroutine applying entries sets and
	// uses it.
	repl *replicator
	ids  *idSource
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
		conns:    map[string]*Conn{},
		channels: map[string]*Channel{},
	}
	if cfg.Log != nil {
		h.repl = newReplicator(cfg.Log, cfg.NodeID)
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
	if h.replicated(ctx) {
		// fresh_user_state is checked when applying only: it does not
		// apply to a user who exists.
		if err := h.precheck(p.Channels, stateUpdate{"user_state", p.UserState}); err != nil {
			return ConnectResult{}, fmt.Errorf("connect %q: %w", p.Username, err)
		}
		if p.ConnID == "" {
			p.ConnID = NewUUID()
		}
		return replicate[ConnectResult](ctx, h, op{Kind: opConnect, Connect: &p})
	}
	now := h.now(ctx)
	h.mu.Lock()
	if c := h.conns[p.ConnID]; c != nil && p.ConnID != "" && c.user.name != p.Username {
		h.mu.Unlock()
		return ConnectResult{}, fmt.Errorf("connect %q as %q: %w", p.ConnID, p.Username, ErrConnOwned)
	}
	if err := h.checkConnectLocked(p); err != nil {
		h.mu.Unlock()
		return ConnectResult{}, fmt.Errorf("connect %q: %w", p.Username, err)
	}
	u := h.users[p.Username]
	if u == nil {
		u = newUser(p.Username, h.newID(), now)
		h.users[p.Username] = u
		u.mergeState(p.FreshUserState)
	}
	u.publicKeys = slices.Clone(p.StatePublicKeys)
	u.mergeState(p.UserState)
	u.lastActive = now

	c := h.conns[p.ConnID]
	if c == nil {
		id := p.ConnID
		if id == "" {
			id = NewUUID()
		}
		c = newConn(id, u, h.queueLimits(), now, h.repl != nil)
		h.conns[id] = c
		u.conns[c] = struct{}{}
	}
	c.touch(now)

	names := append([]string{}, p.Channels...)
	slices.Sort(names)
	var events []routed
	for _, name := range names {
		ch := h.channelLocked(name, p.ChannelConfigs, now)
		if _, first := ch.add(c); first && ch.cfg.NotifyPresence {
			events = append(events, h.presenceLocked(ch, u, "joined", now))
		}
	}
	opts := p.Info
	opts.Channels = names
	res := ConnectResult{
		ConnID:       c.id,
		State:        u.state.clone(),
		Username:     u.name,
		PublicState:  u.publicState(),
		Channels:     names,
		ChannelsInfo: h.infoLocked(opts),
	}
	h.mu.Unlock()
	h.routeAll(events)
	return res, nil
}

// channelLocked returns the channel name, creating it with its config from
// configs (or the default). Caller holds h.mu for writing.
func (h *Hub) channelLocked(name string, configs map[string]ChannelConfig, now time.Time) *Channel {
	ch := h.channels[name]
	if ch == nil {
		cfg, ok := configs[name]
		if !ok {
			cfg = DefaultChannelConfig()
		}
		ch = newChannel(name, h.newID(), cfg, now)
		h.channels[name] = ch
	}
	return ch
}

// Subscribe adds the connection to channels (creating missing ones). More
// than MaxChannelsPerConn channels fail with a *LimitError and change nothing.
func (h *Hub) Subscribe(ctx context.Context, p SubscribeParams) (SubscribeResult, error) {
	if h.replicated(ctx) {
		if err := h.precheck(p.Channels); err != nil {
			return SubscribeResult{}, fmt.Errorf("subscribe %q: %w", p.ConnID, err)
		}
		return replicate[SubscribeResult](ctx, h, op{Kind: opSubscribe, Subscribe: &p})
	}
	now := h.now(ctx)
	h.mu.Lock()
	c := h.conns[p.ConnID]
	if c == nil {
		h.mu.Unlock()
		return SubscribeResult{}, fmt.Errorf("subscribe %q: %w", p.ConnID, ErrUnknownConn)
	}
	if err := h.checkChannelsLocked(c, p.Channels); err != nil {
		h.mu.Unlock()
		return SubscribeResult{}, fmt.Errorf("subscribe %q: %w", p.ConnID, err)
	}
	var events []routed
	added := []string{}
	for _, name := range p.Channels {
		ch := h.channelLocked(name, p.ChannelConfigs, now)
		ok, first := ch.add(c)
		if ok {
			added = append(added, name)
		}
		if first && ch.cfg.NotifyPresence {
			events = append(events, h.presenceLocked(ch, c.user, "joined", now))
		}
	}
	c.touch(now)
	slices.Sort(added)
	names := c.channelNames()
	opts := p.Info
	opts.Channels = names
	res := SubscribeResult{Channels: names, ChannelsInfo: h.infoLocked(opts), SubscribedTo: slices.Compact(added)}
	h.mu.Unlock()
	h.routeAll(events)
	return res, nil
}

// Unsubscribe removes the connection from channels; unknown names are
// ignored. Presence "parted" is sent only when membership changed.
func (h *Hub) Unsubscribe(ctx context.Context, p SubscribeParams) (UnsubscribeResult, error) {
	if h.replicated(ctx) {
		return replicate[UnsubscribeResult](ctx, h, op{Kind: opUnsubscribe, Subscribe: &p})
	}
	now := h.now(ctx)
	h.mu.Lock()
	c := h.conns[p.ConnID]
	if c == nil {
		h.mu.Unlock()
		return UnsubscribeResult{}, fmt.Errorf("unsubscribe %q: %w", p.ConnID, ErrUnknownConn)
	}
	var events []routed
	removed := []string{}
	for _, name := range p.Channels {
		ch := h.channels[name]
		if ch == nil {
			continue
		}
		ok, last := ch.remove(c)
		if ok {
			removed = append(removed, name)
		}
		if last && ch.cfg.NotifyPresence {
			events = append(events, h.presenceLocked(ch, c.user, "parted", now))
		}
	}
	c.touch(now)
	slices.Sort(removed)
	names := c.channelNames()
	opts := p.Info
	opts.Channels = names
	res := UnsubscribeResult{Channels: names, ChannelsInfo: h.infoLocked(opts), UnsubscribedFrom: removed}
	h.mu.Unlock()
	h.routeAll(events)
	return res, nil
}

// channelNames lists the connection's channels, sorted. Caller holds Hub.mu.
func (c *Conn) channelNames() []string {
	names := make([]string, 0, len(c.channels))
	for ch := range c.channels {
		names = append(names, ch.name)
	}
	slices.Sort(names)
	return names
}

// SetUserState merges state into a known user's state and emits
// user_state_change in every notify_state channel the user is in when any
// key changed. More than MaxStateKeys keys, or a key or value larger than
// MaxStateValueBytes, fail with a *LimitError and change nothing.
func (h *Hub) SetUserState(ctx context.Context, p UserStateParams) (UserStateResult, error) {
	if h.replicated(ctx) {
		if err := h.precheck(nil, stateUpdate{"user_state", p.State}); err != nil {
			return UserStateResult{}, fmt.Errorf("user_state %q: %w", p.User, err)
		}
		return replicate[UserStateResult](ctx, h, op{Kind: opUserState, UserState: &p})
	}
	now := h.now(ctx)
	h.mu.Lock()
	u := h.users[p.User]
	if u == nil {
		h.mu.Unlock()
		return UserStateResult{}, fmt.Errorf("user_state %q: %w", p.User, ErrUnknownUser)
	}
	if err := h.checkStateLocked(u, stateUpdate{"user_state", p.State}); err != nil {
		h.mu.Unlock()
		return UserStateResult{}, fmt.Errorf("user_state %q: %w", p.User, err)
	}
	if p.SetPublicKeys {
		u.publicKeys = slices.Clone(p.PublicKeys)
	}
	changed := u.mergeState(p.State)
	u.lastActive = now
	var events []routed
	if len(changed) > 0 {
		events = h.stateChangeLocked(u, changed, now)
	}
	res := UserStateResult{UserState: u.state.clone(), ChangedState: changed, PublicKeys: slices.Clone(u.publicKeys)}
	if res.ChangedState == nil {
		res.ChangedState = []StateChange{}
	}
	if res.PublicKeys == nil {
		res.PublicKeys = []string{}
	}
	h.mu.Unlock()
	h.routeAll(events)
	return res, nil
}

// ConfigureChannels sets every given channel's config (creating missing
// channels) and describes them without history and users. It fails only
// when a Log is set and cannot be reached (ErrUnavailable).
func (h *Hub) ConfigureChannels(ctx context.Context, configs map[string]ChannelConfig) (ChannelsInfo, error) {
	if h.replicated(ctx) {
		return replicate[ChannelsInfo](ctx, h, op{Kind: opConfigure, Configs: configs})
	}
	now := h.now(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	names := sortedKeys(configs)
	for _, name := range names {
		ch := h.channelLocked(name, configs, now)
		ch.cfg = configs[name]
	}
	return h.infoLocked(InfoOptions{Channels: names}), nil
}

// Disconnect removes the connection at once: its transport is closed with
// DisconnectGone and presence "parted" goes out where it applies. It
// reports whether the connection was known. It fails only when a Log is
// set and cannot be reached (ErrUnavailable).
func (h *Hub) Disconnect(ctx context.Context, connID string) (bool, error) {
	if h.replicated(ctx) {
		return replicate[bool](ctx, h, op{Kind: opDisconnect, ConnID: connID})
	}
	now := h.now(ctx)
	h.mu.Lock()
	c := h.conns[connID]
	if c == nil {
		h.mu.Unlock()
		return false, nil
	}
	events := h.removeConnLocked(c, now)
	h.mu.Unlock()
	c.close(DisconnectGone)
	h.routeAll(events)
	return true, nil
}

// removeConnLocked takes c out of every map and returns the parted events.
// Caller holds h.mu for writing and closes c after unlocking.
func (h *Hub) removeConnLocked(c *Conn, now time.Time) []routed {
	var events []routed
	// In name order, so that every node of a cluster queues the parted
	// frames alike.
	chans := make([]*Channel, 0, len(c.channels))
	for ch := range c.channels {
		chans = append(chans, ch)
	}
	slices.SortFunc(chans, func(a, b *Channel) int { return strings.Compare(a.name, b.name) })
	for _, ch := range chans {
		if _, last := ch.remove(c); last && ch.cfg.NotifyPresence {
			events = append(events, h.presenceLocked(ch, c.user, "parted", now))
		}
	}
	delete(h.conns, c.id)
	delete(c.user.conns, c)
	c.user.lastActive = now
	return events
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
