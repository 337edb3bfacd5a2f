package core

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// routed is a frame on its way to the members of one channel.
type routed struct {
	frame   *Frame
	channel string
	pm      []string // when non-empty, only these users receive it
	exclude []string // these users never receive it
}

// addPresenceLocked appends a presence frame for u in ch to events, unless
// this node only applies the change (buildsFrames). Caller holds h.mu.
func (h *Hub) addPresenceLocked(events []routed, ch *Channel, u *User, action string, now time.Time, ids *idSource) []routed {
	if !h.buildsFrames() {
		ids.skip(1) // the ids after it stay those of the origin
		return events
	}
	return append(events, h.presenceLocked(ch, u, action, now, ids))
}

// buildsFrames reports whether applying the current change makes its
// presence and state frames: always, except in data-plane mode on a node
// that is not the change's origin (only the origin publishes them, see
// Hub.apply). Their ids come from the entry (idSource), so the origin's
// are the same whichever nodes skip them.
func (h *Hub) buildsFrames() bool { return h.dp == nil || h.repl.origin }

// presenceLocked builds a presence frame for u in ch. Caller holds h.mu.
func (h *Hub) presenceLocked(ch *Channel, u *User, action string, now time.Time, ids *idSource) routed {
	users := []presenceUser{}
	if ch.cfg.Value().BroadcastPresenceWithUserLists {
		for _, name := range ch.users() {
			if m := h.users[name]; m != nil {
				users = append(users, presenceUser{User: name, State: m.publicState()})
			}
		}
	}
	var state State
	if action == "joined" {
		state = u.publicState()
	}
	f := newObjectFrame(presencePayload{
		UUID: ids.next(), Type: "presence", User: u.name, Users: users,
		Timestamp: FormatTime(now), Channel: ch.name,
		Message: map[string]string{"action": action}, State: state,
	}, h.since(now))
	return routed{frame: f, channel: ch.name, exclude: []string{u.name}}
}

type presenceUser struct {
	User  string `json:"user"`
	State State  `json:"state"`
}

type presencePayload struct {
	UUID      string            `json:"uuid"`
	Type      string            `json:"type"`
	User      string            `json:"user"`
	Users     []presenceUser    `json:"users"`
	Timestamp string            `json:"timestamp"`
	Channel   string            `json:"channel"`
	Message   map[string]string `json:"message"`
	State     State             `json:"state"`
}

type stateChangePayload struct {
	UUID      string `json:"uuid"`
	Type      string `json:"type"`
	User      string `json:"user"`
	Timestamp string `json:"timestamp"`
	Channel   string `json:"channel"`
	Message   struct {
		State   State         `json:"state"`
		Changed []StateChange `json:"changed"`
	} `json:"message"`
}

// stateChangeLocked builds user_state_change frames for every notify_state
// channel u has a connection in. Caller holds h.mu.
func (h *Hub) stateChangeLocked(u *User, changed []StateChange, now time.Time, ids *idSource) []routed {
	seen := map[*Channel]bool{}
	var chans []*Channel
	for _, c := range u.conns {
		for _, ch := range c.channels {
			if !seen[ch] && ch.cfg.Value().NotifyState {
				seen[ch] = true
				chans = append(chans, ch)
			}
		}
	}
	slices.SortFunc(chans, func(a, b *Channel) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	if !h.buildsFrames() {
		ids.skip(len(chans))
		return nil
	}
	public := []StateChange{}
	for _, sc := range changed {
		if u.isPublic(sc.Key) {
			public = append(public, sc)
		}
	}
	events := make([]routed, 0, len(chans))
	for _, ch := range chans {
		p := stateChangePayload{UUID: ids.next(), Type: "user_state_change", User: u.name,
			Timestamp: FormatTime(now), Channel: ch.name}
		p.Message.State = u.publicState()
		p.Message.Changed = public
		events = append(events, routed{frame: newObjectFrame(p, h.since(now)), channel: ch.name})
	}
	return events
}

// routeAll delivers hub-made events; called without h.mu held.
func (h *Hub) routeAll(events []routed) {
	if h.dp != nil {
		// Data-plane mode: only the applying goroutine gets here; the
		// change's origin publishes them (cluster.go, apply).
		h.repl.events = append(h.repl.events, events...)
		return
	}
	for _, ev := range events {
		h.toChannel(ev, nil)
	}
}

// toChannel delivers ev to the channel's members that pass its filters,
// after store (if not nil) ran under the channel lock. It returns how many
// connections received it, or -1 when the channel does not exist.
func (h *Hub) toChannel(ev routed, store func(*Channel)) int {
	h.mu.RLock()
	ch := h.channels[ev.channel]
	if ch == nil {
		h.mu.RUnlock()
		return -1
	}
	if store != nil {
		store(ch)
	}
	targets := ch.targets()
	h.mu.RUnlock()
	if len(ev.exclude) == 0 && len(ev.pm) == 0 {
		return h.enqueueAll(targets, ev.frame, nil)
	}
	return h.enqueueAll(targets, ev.frame, func(c *Conn) bool {
		name := c.user.name // immutable
		return !slices.Contains(ev.exclude, name) && (len(ev.pm) == 0 || slices.Contains(ev.pm, name))
	})
}

// enqueueAll queues f on every target that keep accepts (keep == nil: on
// every one) and returns how many took it.
func (h *Hub) enqueueAll(targets []*Conn, f *Frame, keep func(*Conn) bool) int {
	n := 0
	for _, c := range targets {
		if keep != nil && !keep(c) {
			continue
		}
		queued, slow, dropped := c.enqueue(f)
		if queued {
			n++
		}
		if dropped > 0 {
			h.stats.FramesDropped.Add(int64(dropped))
		}
		if slow {
			h.stats.SlowDisconnects.Add(1)
			h.log.Warn().Str("conn_id", c.ID()).Str("user", c.user.name).Msg("slow consumer disconnected")
		}
	}
	return n
}

// Publish routes validated messages (sends, edits, deletes) in order.
// Messages to a channel that does not exist are dropped (but counted);
// messages without a channel go to every connection of each listed user.
// The hub keeps copies: the caller may reuse msgs once Publish returns.
// When a message's encoded payload is larger than MaxMessageBytes, Publish
// routes none of them and returns a *LimitError naming its index.
func (h *Hub) Publish(ctx context.Context, msgs []Message) error {
	if err := h.checkMessages(msgs); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if h.dp != nil {
		return h.publishDP(ctx, msgs)
	}
	if h.repl != nil {
		_, err := submit[struct{}](ctx, h, op{Kind: opPublish, Messages: msgs})
		return err
	}
	h.applyPublish(h.cfg.Now(), msgs)
	return nil
}

// applyPublish is Publish's change (see apply.go).
func (h *Hub) applyPublish(now time.Time, msgs []Message) {
	for i := range msgs {
		h.publish(msgs[i].clone(), now)
	}
}

func (h *Hub) publish(m *Message, now time.Time) {
	if m.Kind == KindSend {
		h.stats.TotalUniqueMessages.Add(1)
	}
	f := newMessageFrame(m, h.since(now))
	if m.Channel == "" {
		h.stats.TotalMessages.Add(int64(h.toUsers(m, f)))
		return
	}
	// As upstream, total_messages counts deliveries of published messages
	// only: presence and state changes (routeAll) are not counted.
	n := h.toChannel(routed{frame: f, channel: m.Channel, pm: m.PMUsers, exclude: m.ExcludeUsers}, func(ch *Channel) {
		switch m.Kind {
		case KindSend:
			ch.store(f, m, h.cfg.MaxHistory, h.cfg.ChannelFrames, now)
		case KindEdit:
			ch.edit(m, now)
		case KindDelete:
			ch.delete(m.UUID)
		}
	})
	if n > 0 {
		h.stats.TotalMessages.Add(int64(n))
	}
}

// toUsers delivers a global private message to every connection of each
// listed user that exists, keeping it in the user's private frames.
// exclude_users does not apply here (upstream behaviour). It returns how
// many connections received it.
func (h *Hub) toUsers(m *Message, f *Frame) int {
	var targets []*Conn
	h.mu.RLock()
	for _, name := range slices.Compact(slices.Sorted(slices.Values(m.PMUsers))) {
		u := h.users[name]
		if u == nil {
			continue
		}
		u.mu.Lock()
		switch m.Kind {
		case KindSend:
			u.setFramesLocked(appendBounded(u.framesLocked(), f, h.cfg.UserFrames))
		case KindEdit:
			if old := findFrame(u.framesLocked(), m.UUID); old != nil {
				old.edit(m)
			}
		case KindDelete:
			u.setFramesLocked(removeFrame(u.framesLocked(), m.UUID))
		}
		u.mu.Unlock()
		targets = append(targets, u.conns...)
	}
	h.mu.RUnlock()
	return h.enqueueAll(targets, f, nil)
}
