package core

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unique"
)

// The apply functions below hold the only copy of each change's logic. A
// single hub calls them from its public methods with its clock and random
// ids (ids == nil); a clustered hub calls them only while applying a log
// entry (cluster.go), with the entry's time and ids derived from the
// entry, so that every node makes the same change. They never call the
// public methods and never touch the log.

// applyConnect is Connect's change. joins are the join points of its
// streams in data-plane mode (nil otherwise).
func (h *Hub) applyConnect(now time.Time, ids *idSource, p ConnectParams, joins []streamJoin) (ConnectResult, error) {
	if p.ConnID == "" {
		p.ConnID = NewUUID()
	}
	id, ok := uuid16Of(p.ConnID)
	if !ok {
		return ConnectResult{}, fmt.Errorf("connect %q: conn id %q is not a canonical UUID", p.Username, p.ConnID)
	}
	h.mu.Lock()
	if c := h.conns[id]; c != nil && c.user.name != p.Username {
		h.mu.Unlock()
		return ConnectResult{}, fmt.Errorf("connect %q as %q: %w", p.ConnID, p.Username, ErrConnOwned)
	}
	if err := h.checkConnectLocked(p); err != nil {
		h.mu.Unlock()
		return ConnectResult{}, fmt.Errorf("connect %q: %w", p.Username, err)
	}
	u := h.users[p.Username]
	if u == nil {
		u = newUser(p.Username, ids.nextUUID(), now)
		h.users[p.Username] = u
		u.mergeState(p.FreshUserState)
	}
	u.setKeys(p.StatePublicKeys)
	u.mergeState(p.UserState)
	u.lastActive = now.UnixNano()

	c := h.conns[id]
	if c == nil {
		c = newConn(id, u, h.queueLimits(), h.dp == nil, now)
		h.conns[id] = c
		u.conns = append(u.conns, c)
		c.joinLocked(Stream{Kind: UserStream, Name: u.name}, joins)
	}
	c.touch(now)

	names := append([]string{}, p.Channels...)
	slices.Sort(names)
	var events []routed
	var added []Stream
	for _, name := range names {
		ch := h.channelLocked(name, p.ChannelConfigs, now, ids)
		ok, first := ch.add(c)
		if ok && joins != nil {
			added = append(added, c.joinLocked(Stream{Kind: ChannelStream, Name: name}, joins))
		}
		if first && ch.cfg.Value().NotifyPresence {
			events = h.addPresenceLocked(events, ch, u, "joined", now, ids)
		}
	}
	opts := p.Info
	opts.Channels = names
	res := ConnectResult{
		ConnID:       p.ConnID,
		State:        u.state.clone(),
		Username:     u.name,
		PublicState:  u.publicState(),
		Channels:     names,
		ChannelsInfo: h.infoLocked(opts),
	}
	h.mu.Unlock()
	h.routeAll(events)
	if len(added) > 0 {
		h.streamsAdded(c, added)
	}
	return res, nil
}

// channelLocked returns the channel name, creating it with its config from
// configs (or the default). Caller holds h.mu for writing.
func (h *Hub) channelLocked(name string, configs map[string]ChannelConfig, now time.Time, ids *idSource) *Channel {
	ch := h.channels[name]
	if ch == nil {
		cfg, ok := configs[name]
		if !ok {
			cfg = DefaultChannelConfig()
		}
		ch = newChannel(name, ids.nextUUID(), cfg, now)
		h.channels[name] = ch
	}
	return ch
}

// applySubscribe is Subscribe's change; joins as for applyConnect.
func (h *Hub) applySubscribe(now time.Time, ids *idSource, p SubscribeParams, joins []streamJoin) (SubscribeResult, error) {
	h.mu.Lock()
	c := h.connLocked(p.ConnID)
	if c == nil {
		h.mu.Unlock()
		return SubscribeResult{}, fmt.Errorf("subscribe %q: %w", p.ConnID, ErrUnknownConn)
	}
	err := h.checkChannelsLocked(c, p.Channels)
	if err == nil {
		err = h.checkNewChannelsLocked(p.Channels)
	}
	if err != nil {
		h.mu.Unlock()
		return SubscribeResult{}, fmt.Errorf("subscribe %q: %w", p.ConnID, err)
	}
	var events []routed
	added := []string{}
	var streams []Stream
	for _, name := range p.Channels {
		ch := h.channelLocked(name, p.ChannelConfigs, now, ids)
		ok, first := ch.add(c)
		if ok {
			added = append(added, name)
			if joins != nil {
				streams = append(streams, c.joinLocked(Stream{Kind: ChannelStream, Name: name}, joins))
			}
		}
		if first && ch.cfg.Value().NotifyPresence {
			events = h.addPresenceLocked(events, ch, c.user, "joined", now, ids)
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
	if len(streams) > 0 {
		h.streamsAdded(c, streams)
	}
	return res, nil
}

// applyUnsubscribe is Unsubscribe's change.
func (h *Hub) applyUnsubscribe(now time.Time, ids *idSource, p SubscribeParams) (UnsubscribeResult, error) {
	h.mu.Lock()
	c := h.connLocked(p.ConnID)
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
		ok, last := ch.remove(c, now)
		if ok {
			removed = append(removed, name)
		}
		if last && ch.cfg.Value().NotifyPresence {
			events = h.addPresenceLocked(events, ch, c.user, "parted", now, ids)
		}
	}
	c.touch(now)
	var gone []Stream
	if h.dp != nil {
		gone = c.leaveStreams(removed)
	}
	slices.Sort(removed)
	names := c.channelNames()
	opts := p.Info
	opts.Channels = names
	res := UnsubscribeResult{Channels: names, ChannelsInfo: h.infoLocked(opts), UnsubscribedFrom: removed}
	h.mu.Unlock()
	h.routeAll(events)
	if len(gone) > 0 {
		h.streamsRemoved(c, gone)
	}
	return res, nil
}

// channelNames lists the connection's channels, sorted. Caller holds Hub.mu.
func (c *Conn) channelNames() []string {
	names := make([]string, 0, len(c.channels))
	for _, ch := range c.channels {
		names = append(names, ch.name)
	}
	slices.Sort(names)
	return names
}

// applyUserState is SetUserState's change.
func (h *Hub) applyUserState(now time.Time, ids *idSource, p UserStateParams) (UserStateResult, error) {
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
		u.setKeys(p.PublicKeys)
	}
	changed := u.mergeState(p.State)
	u.lastActive = now.UnixNano()
	var events []routed
	if len(changed) > 0 {
		events = h.stateChangeLocked(u, changed, now, ids)
	}
	res := UserStateResult{UserState: u.state.clone(), ChangedState: changed, PublicKeys: slices.Clone(u.keys())}
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

// applyConfigure is ConfigureChannels' change.
func (h *Hub) applyConfigure(now time.Time, ids *idSource, configs map[string]ChannelConfig) (ChannelsInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := sortedKeys(configs)
	if err := h.checkNewChannelsLocked(names); err != nil {
		return ChannelsInfo{}, fmt.Errorf("configure channels: %w", err)
	}
	for _, name := range names {
		ch := h.channelLocked(name, configs, now, ids)
		ch.cfg = unique.Make(configs[name])
		ch.idleSince = now.UnixNano()
	}
	return h.infoLocked(InfoOptions{Channels: names}), nil
}

// applyDisconnect is Disconnect's change.
func (h *Hub) applyDisconnect(now time.Time, ids *idSource, connID string) bool {
	h.mu.Lock()
	c := h.connLocked(connID)
	if c == nil {
		h.mu.Unlock()
		return false
	}
	events := h.removeConnLocked(c, now, ids)
	h.mu.Unlock()
	c.close(DisconnectGone)
	h.routeAll(events)
	return true
}

// removeConnLocked takes c out of every map and returns the parted events.
// Caller holds h.mu for writing and closes c after unlocking.
func (h *Hub) removeConnLocked(c *Conn, now time.Time, ids *idSource) []routed {
	var events []routed
	// In name order, so that every node of a cluster queues the parted
	// frames alike.
	chans := slices.Clone(c.channels)
	slices.SortFunc(chans, func(a, b *Channel) int { return strings.Compare(a.name, b.name) })
	for _, ch := range chans {
		if _, last := ch.remove(c, now); last && ch.cfg.Value().NotifyPresence {
			events = h.addPresenceLocked(events, ch, c.user, "parted", now, ids)
		}
	}
	delete(h.conns, c.id)
	c.user.removeConn(c)
	c.user.lastActive = now.UnixNano()
	if h.dp != nil {
		h.dropHeld(c, true)
	}
	return events
}
