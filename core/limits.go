package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// ErrLimit is matched (with errors.Is) by every *LimitError.
var ErrLimit = errors.New("limit exceeded")

// LimitError is a request the hub refused because it would pass one of the
// limits of Config. The hub changed nothing. It is the client-visible error
// of the limits: Reason is written for the client.
type LimitError struct {
	// Limit names the setting that refused: "max_channels_per_conn",
	// "max_conns_per_user", "max_connections", "max_channels",
	// "max_message_bytes", "max_state_keys" or "max_state_value_bytes".
	Limit string
	// Max is the setting's value.
	Max int
	// Field is the request field at fault ("channels", "user_state",
	// "fresh_user_state", "message"), or "" for a capacity limit that no
	// single field caused (too many connections or channels).
	Field string
	// Index is the position of the refused message in the list given to
	// Publish; -1 for every other limit.
	Index int
	// Reason is one sentence for the client, e.g.
	// "Too many channels for one connection (max 1000)."
	Reason string
}

// Error returns the limit's name and the reason.
func (e *LimitError) Error() string { return e.Limit + ": " + e.Reason }

// Is reports whether target is ErrLimit.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// Capacity reports whether the limit is a capacity of the server or a user
// (too many connections) rather than a property of the request's fields.
func (e *LimitError) Capacity() bool { return e.Field == "" }

func limitErr(limit string, max int, field, reason string) *LimitError {
	return &LimitError{Limit: limit, Max: max, Field: field, Index: -1, Reason: reason}
}

// checkConnectLocked refuses a Connect that would pass a limit: the
// request's own fields first (channels, state), then capacity. Caller holds
// h.mu.
func (h *Hub) checkConnectLocked(p ConnectParams) error {
	u := h.users[p.Username]
	c := h.connLocked(p.ConnID)
	if err := h.checkChannelsLocked(c, p.Channels); err != nil {
		return err
	}
	updates := []stateUpdate{{"user_state", p.UserState}}
	if u == nil { // fresh_user_state applies to a new user only
		updates = append([]stateUpdate{{"fresh_user_state", p.FreshUserState}}, updates...)
	}
	if err := h.checkStateLocked(u, updates...); err != nil {
		return err
	}
	if c == nil {
		if err := h.checkNewConnLocked(u); err != nil {
			return err
		}
	}
	return h.checkNewChannelsLocked(p.Channels)
}

// checkNewChannelsLocked refuses to create the channels of names that do
// not exist yet when the hub would then hold more than MaxChannels. Caller
// holds h.mu.
func (h *Hub) checkNewChannelsLocked(names []string) error {
	max := h.cfg.MaxChannels
	if len(h.channels)+len(names) <= max {
		return nil // fast path: cannot pass the limit, even without duplicates
	}
	n := len(h.channels)
	for _, name := range slices.Compact(slices.Sorted(slices.Values(names))) {
		if h.channels[name] == nil {
			n++
		}
	}
	if n > max {
		return limitErr("max_channels", max, "",
			fmt.Sprintf("The server has too many channels (max %d); try again later.", max))
	}
	return nil
}

// precheck refuses, before a change goes through the log, what a limit
// refuses whatever the hub's state: more distinct channels than one
// connection may be in, and state keys or values that are too large or too
// many in the request alone. So such a request gets its 422 while the log
// is away too. What depends on the state is checked when the entry is
// applied. It reads only the configuration.
func (h *Hub) precheck(channels []string, updates ...stateUpdate) error {
	if err := h.checkChannelsLocked(nil, channels); err != nil {
		return err
	}
	return h.checkStateLocked(nil, updates...)
}

// checkNewConnLocked refuses a new connection of u (nil: a new user) when
// the node or the user has no room left. Caller holds h.mu.
func (h *Hub) checkNewConnLocked(u *User) error {
	if max := h.cfg.MaxConnections; len(h.conns) >= max {
		return limitErr("max_connections", max, "",
			fmt.Sprintf("The server has too many connections (max %d); try again later.", max))
	}
	if max := h.cfg.MaxConnsPerUser; u != nil && len(u.conns) >= max {
		return limitErr("max_conns_per_user", max, "",
			fmt.Sprintf("Too many connections for user %q (max %d).", u.name, max))
	}
	return nil
}

// checkChannelsLocked refuses to add names to c (nil: a new connection)
// when it would then be in more than MaxChannelsPerConn channels. Caller
// holds h.mu.
func (h *Hub) checkChannelsLocked(c *Conn, names []string) error {
	max := h.cfg.MaxChannelsPerConn
	if len(names) <= max && (c == nil || len(c.channels)+len(names) <= max) {
		return nil // fast path: cannot pass the limit, even without duplicates
	}
	n := 0
	if c != nil {
		n = len(c.channels)
	}
	for _, name := range slices.Compact(slices.Sorted(slices.Values(names))) {
		if ch := h.channels[name]; c != nil && ch != nil {
			if slices.Contains(c.channels, ch) {
				continue
			}
		}
		n++
	}
	if n > max {
		return limitErr("max_channels_per_conn", max, "channels",
			fmt.Sprintf("Too many channels for one connection (max %d).", max))
	}
	return nil
}

// stateUpdate is one state map about to be merged into a user's state, and
// the request field it came from.
type stateUpdate struct {
	field string
	state State
}

// checkStateLocked refuses updates that would give u (nil: a new user) more
// than MaxStateKeys keys, or a key or value larger than MaxStateValueBytes.
// Updates are merged in order, as mergeState does. Caller holds h.mu.
func (h *Hub) checkStateLocked(u *User, updates ...stateUpdate) error {
	maxBytes, maxKeys := h.cfg.MaxStateValueBytes, h.cfg.MaxStateKeys
	n := 0
	if u != nil {
		n = len(u.state)
	}
	var added map[string]bool
	for _, up := range updates {
		for k, v := range up.state {
			if len(k) > maxBytes {
				return limitErr("max_state_value_bytes", maxBytes, up.field,
					fmt.Sprintf("A state key is larger than %d bytes.", maxBytes))
			}
			if stateValueSize(v) > maxBytes {
				return limitErr("max_state_value_bytes", maxBytes, up.field,
					fmt.Sprintf("The value of state key %q is larger than %d bytes.", k, maxBytes))
			}
			// mergeState adds a key only when it is absent and not null.
			if v == nil || added[k] {
				continue
			}
			if u != nil {
				if _, ok := u.state[k]; ok {
					continue
				}
			}
			if added == nil {
				added = map[string]bool{}
			}
			added[k] = true
			if n+len(added) > maxKeys {
				return limitErr("max_state_keys", maxKeys, up.field,
					fmt.Sprintf("Too many state keys (max %d).", maxKeys))
			}
		}
	}
	return nil
}

// stateValueSize is the size of a state value in bytes: a string's or
// number's length, 0 for true, false and null.
func stateValueSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case json.Number:
		return len(x)
	}
	return 0
}

// checkMessages refuses the batch when any message's encoded payload is
// larger than MaxMessageBytes.
func (h *Hub) checkMessages(msgs []Message) error {
	max := h.cfg.MaxMessageBytes
	for i := range msgs {
		if msgs[i].payloadSize() > max {
			e := limitErr("max_message_bytes", max, "message",
				fmt.Sprintf("Message is larger than %d bytes.", max))
			e.Index = i
			return e
		}
	}
	return nil
}

// payloadSize is len(m.payload()) without building the payload.
func (m *Message) payloadSize() int {
	n, keys := 0, 0
	add := func(k string, v int) {
		n += jsonStringSize(k) + 1 + v
		keys++
	}
	for k, v := range m.Fields {
		switch k {
		case "seq", "catchup", "uuid", "channel", "type":
			continue // dropped or replaced by payload
		}
		if len(v) == 0 {
			add(k, len(jsonNull))
			continue
		}
		add(k, len(v))
	}
	add("uuid", jsonStringSize(m.UUID))
	if m.Channel == "" {
		add("channel", len(jsonNull))
	} else {
		add("channel", jsonStringSize(m.Channel))
	}
	add("type", jsonStringSize(messageTypes[m.Kind]))
	return n + 2 + keys - 1 // braces and commas
}

// jsonStringSize is len(appendJSONString(nil, s)), allocating only for
// strings that need escaping.
func jsonStringSize(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return len(appendJSONString(nil, s))
		}
	}
	return len(s) + 2
}
