package core

import (
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Channel is one named channel with its members, settings and history.
type Channel struct {
	name string
	uuid string
	// cfg and members are guarded by Hub.mu. members maps a username to
	// that user's connections in the channel.
	cfg     ChannelConfig
	members map[string]map[*Conn]struct{}
	conns   int
	// list holds the same connections as members, flat, for the publish
	// path (see targets). Guarded by Hub.mu; pos is each one's index.
	list []*Conn
	pos  map[*Conn]int
	// idleSince is when the channel was made, configured or left by its
	// last connection; guarded by Hub.mu. The collector removes a channel
	// with no connection and no history once both it and lastActive are
	// older than ConnTimeout (see collectable).
	idleSince time.Time
	// shared is set once a publisher took list as a snapshot: until list
	// is copied, its first len(list) elements must not be overwritten.
	shared atomic.Bool

	// history, frames and lastActive are guarded by mu.
	mu         sync.Mutex
	history    []*Frame
	frames     []*Frame
	lastActive time.Time
}

func newChannel(name, uuid string, cfg ChannelConfig, now time.Time) *Channel {
	return &Channel{name: name, uuid: uuid, cfg: cfg, members: map[string]map[*Conn]struct{}{},
		pos: map[*Conn]int{}, lastActive: now, idleSince: now}
}

// add puts c in the channel. It reports whether c was added and whether it
// is its user's first connection in the channel. Caller holds Hub.mu.
func (ch *Channel) add(c *Conn) (added, first bool) {
	set := ch.members[c.user.name]
	if _, ok := set[c]; ok {
		return false, false
	}
	if set == nil {
		set = map[*Conn]struct{}{}
		ch.members[c.user.name] = set
		first = true
	}
	set[c] = struct{}{}
	c.channels[ch] = struct{}{}
	ch.conns++
	// Appending never overwrites an element a snapshot can see.
	ch.pos[c] = len(ch.list)
	ch.list = append(ch.list, c)
	return true, first
}

// remove takes c out of the channel at now. It reports whether c was there
// and whether its user has no connection left in the channel. Caller holds
// Hub.mu.
func (ch *Channel) remove(c *Conn, now time.Time) (removed, last bool) {
	set := ch.members[c.user.name]
	if _, ok := set[c]; !ok {
		return false, false
	}
	delete(set, c)
	delete(c.channels, ch)
	ch.conns--
	if ch.conns == 0 {
		ch.idleSince = now
	}
	ch.unlist(c)
	if len(set) == 0 {
		delete(ch.members, c.user.name)
		return true, true
	}
	return true, false
}

// unlist takes c out of list: the last connection moves into its place,
// so the order stays a function of the joins and leaves alone (every node
// of a cluster that applies the same operations has the same list). A
// list a publisher may still be reading is copied first. Caller holds
// Hub.mu.
func (ch *Channel) unlist(c *Conn) {
	i, last := ch.pos[c], len(ch.list)-1
	delete(ch.pos, c)
	if ch.shared.Load() {
		ch.list = slices.Clone(ch.list)
		ch.shared.Store(false)
	}
	if i != last {
		moved := ch.list[last]
		ch.list[i], ch.pos[moved] = moved, i
	}
	ch.list[last] = nil
	ch.list = ch.list[:last]
}

// targets returns the channel's connections for a publisher to visit
// after it released Hub.mu: neither the slice nor its elements change
// afterwards (remove copies a shared list before changing it, add only
// appends). The caller must not modify it. Caller holds Hub.mu (read).
func (ch *Channel) targets() []*Conn {
	if !ch.shared.Load() {
		ch.shared.Store(true)
	}
	return ch.list
}

// collectable reports whether the collector removes the channel at now: no
// connection, no history, and nothing done with it (made, configured, left,
// a message) for longer than timeout. Caller holds Hub.mu.
func (ch *Channel) collectable(now time.Time, timeout time.Duration) bool {
	if ch.conns > 0 || now.Sub(ch.idleSince) <= timeout {
		return false
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.history) == 0 && now.Sub(ch.lastActive) > timeout
}

// historyLimit is how many entries the history keeps.
func (ch *Channel) historyLimit(maxHistory int) int {
	if ch.cfg.HistorySize <= 0 || ch.cfg.HistorySize > maxHistory {
		return maxHistory
	}
	return ch.cfg.HistorySize
}

// store keeps a message frame in history and frames as the settings say.
// Caller holds Hub.mu (read) for cfg.
func (ch *Channel) store(f *Frame, m *Message, maxHistory, maxFrames int, now time.Time) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.lastActive = now
	if m.Kind != KindSend {
		return
	}
	if ch.cfg.StoreHistory && !m.NoHistory {
		ch.history = appendBounded(ch.history, f, ch.historyLimit(maxHistory))
	}
	if ch.cfg.StoreFrames {
		ch.frames = appendBounded(ch.frames, f, maxFrames)
	}
}

// edit applies e to the stored message with e's uuid, in history first,
// then in frames. Caller holds Hub.mu (read).
func (ch *Channel) edit(e *Message, now time.Time) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.lastActive = now
	if f := findFrame(ch.history, e.UUID); f != nil {
		f.edit(e)
		return
	}
	if f := findFrame(ch.frames, e.UUID); f != nil {
		f.edit(e)
	}
}

// delete removes the stored message with uuid from history and frames.
func (ch *Channel) delete(uuid string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.history = removeFrame(ch.history, uuid)
	ch.frames = removeFrame(ch.frames, uuid)
}

func (ch *Channel) historyEntries() []json.RawMessage {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	out := make([]json.RawMessage, len(ch.history))
	for i, f := range ch.history {
		out[i] = f.message().historyEntry()
	}
	return out
}

func appendBounded(list []*Frame, f *Frame, limit int) []*Frame {
	list = append(list, f)
	if over := len(list) - limit; over > 0 {
		clear(list[:over])
		list = append(list[:0], list[over:]...)
	}
	return list
}

func findFrame(list []*Frame, uuid string) *Frame {
	for _, f := range list {
		if f.message() != nil && f.message().UUID == uuid {
			return f
		}
	}
	return nil
}

func removeFrame(list []*Frame, uuid string) []*Frame {
	for i, f := range list {
		if f.message() != nil && f.message().UUID == uuid {
			return slices.Delete(list, i, i+1)
		}
	}
	return list
}
