package core

import (
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unique"
)

// Channel is one named channel with its members, settings and history.
type Channel struct {
	name string
	uuid uuid16
	// cfg, list and idx are guarded by Hub.mu. cfg is interned (8
	// bytes, not 24: most channels share the default). list holds the channel's
	// connections, flat, for the publish path (see targets); idx indexes
	// it once the channel has more than smallChannel connections. A
	// small channel has no index: its lookups scan list, which is
	// smaller than any map (a node keeps every channel of the cluster,
	// most of them personal ones).
	cfg  unique.Handle[ChannelConfig]
	list []*Conn
	idx  *channelIndex
	// idleSince is when the channel was made, configured or left by its
	// last connection (unix ns, as lastActive: 8 bytes, not a
	// time.Time's 24); guarded by Hub.mu. The collector removes a
	// channel with no connection and no history once both it and
	// lastActive are older than ConnTimeout (see collectable).
	idleSince int64
	// shared is set once a publisher took list as a snapshot: until list
	// is copied, its first len(list) elements must not be overwritten.
	shared atomic.Bool

	// stored and lastActive are guarded by mu. stored is nil until the
	// channel stores a message: most channels (personal ones) never do.
	mu         sync.Mutex
	stored     *storedFrames
	lastActive int64
}

// storedFrames are a channel's kept message frames: its history and the
// last frames (for edits to reach queued copies).
type storedFrames struct {
	history []*Frame
	frames  []*Frame
}

// historyLocked returns the history. Caller holds ch.mu.
func (ch *Channel) historyLocked() []*Frame {
	if ch.stored == nil {
		return nil
	}
	return ch.stored.history
}

// framesLocked returns the last frames. Caller holds ch.mu.
func (ch *Channel) framesLocked() []*Frame {
	if ch.stored == nil {
		return nil
	}
	return ch.stored.frames
}

// smallChannel is how many connections a channel holds before it indexes
// them (channelIndex); it drops the index again at half that.
const smallChannel = 16

// channelIndex is a big channel's index of its list: each connection's
// position, and how many connections each user has in it.
type channelIndex struct {
	pos   map[*Conn]int
	users map[string]int
}

func newChannel(name string, uuid uuid16, cfg ChannelConfig, now time.Time) *Channel {
	return &Channel{name: name, uuid: uuid, cfg: unique.Make(cfg), lastActive: now.UnixNano(), idleSince: now.UnixNano()}
}

// indexOf returns c's position in list, -1 if it is not there. Caller
// holds Hub.mu.
func (ch *Channel) indexOf(c *Conn) int {
	if ch.idx != nil {
		if i, ok := ch.idx.pos[c]; ok {
			return i
		}
		return -1
	}
	return slices.Index(ch.list, c)
}

// userConns returns how many connections user has in the channel. Caller
// holds Hub.mu.
func (ch *Channel) userConns(user string) int {
	if ch.idx != nil {
		return ch.idx.users[user]
	}
	n := 0
	for _, c := range ch.list {
		if c.user.name == user {
			n++
		}
	}
	return n
}

// users returns the names of the channel's users, sorted. Caller holds
// Hub.mu.
func (ch *Channel) users() []string {
	if ch.idx != nil {
		return sortedKeys(ch.idx.users)
	}
	names := make([]string, 0, len(ch.list))
	for _, c := range ch.list {
		names = append(names, c.user.name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// userCount returns how many users the channel has. Caller holds Hub.mu.
func (ch *Channel) userCount() int {
	if ch.idx != nil {
		return len(ch.idx.users)
	}
	return len(ch.users())
}

// add puts c in the channel. It reports whether c was added and whether it
// is its user's first connection in the channel. Caller holds Hub.mu.
func (ch *Channel) add(c *Conn) (added, first bool) {
	if ch.indexOf(c) >= 0 {
		return false, false
	}
	first = ch.userConns(c.user.name) == 0
	c.channels = append(c.channels, ch)
	// Appending never overwrites an element a snapshot can see.
	ch.list = append(ch.list, c)
	switch {
	case ch.idx != nil:
		ch.idx.pos[c] = len(ch.list) - 1
		ch.idx.users[c.user.name]++
	case len(ch.list) > smallChannel:
		ch.idx = &channelIndex{pos: make(map[*Conn]int, len(ch.list)), users: map[string]int{}}
		for i, m := range ch.list {
			ch.idx.pos[m] = i
			ch.idx.users[m.user.name]++
		}
	}
	return true, first
}

// remove takes c out of the channel at now. It reports whether c was there
// and whether its user has no connection left in the channel. Caller holds
// Hub.mu.
func (ch *Channel) remove(c *Conn, now time.Time) (removed, last bool) {
	i := ch.indexOf(c)
	if i < 0 {
		return false, false
	}
	if j := slices.Index(c.channels, ch); j >= 0 {
		c.channels = slices.Delete(c.channels, j, j+1)
	}
	ch.unlist(c, i)
	if len(ch.list) == 0 {
		ch.idleSince = now.UnixNano()
	}
	if ch.idx == nil {
		return true, ch.userConns(c.user.name) == 0
	}
	if ch.idx.users[c.user.name]--; ch.idx.users[c.user.name] == 0 {
		delete(ch.idx.users, c.user.name)
		last = true
	}
	if len(ch.list) <= smallChannel/2 {
		ch.idx = nil
	}
	return true, last
}

// unlist takes c, at position i, out of list: the last connection moves
// into its place, so the order stays a function of the joins and leaves
// alone (every node of a cluster that applies the same operations has the
// same list). A list a publisher may still be reading is copied first.
// Caller holds Hub.mu.
func (ch *Channel) unlist(c *Conn, i int) {
	last := len(ch.list) - 1
	if ch.idx != nil {
		delete(ch.idx.pos, c)
	}
	if ch.shared.Load() {
		ch.list = slices.Clone(ch.list)
		ch.shared.Store(false)
	}
	if i != last {
		moved := ch.list[last]
		ch.list[i] = moved
		if ch.idx != nil {
			ch.idx.pos[moved] = i
		}
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
	if len(ch.list) > 0 || now.Sub(time.Unix(0, ch.idleSince)) <= timeout {
		return false
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.historyLocked()) == 0 && now.Sub(time.Unix(0, ch.lastActive)) > timeout
}

// historyLimit is how many entries the history keeps.
func (ch *Channel) historyLimit(maxHistory int) int {
	if ch.cfg.Value().HistorySize <= 0 || ch.cfg.Value().HistorySize > maxHistory {
		return maxHistory
	}
	return ch.cfg.Value().HistorySize
}

// store keeps a message frame in history and frames as the settings say.
// Caller holds Hub.mu (read) for cfg.
func (ch *Channel) store(f *Frame, m *Message, maxHistory, maxFrames int, now time.Time) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.lastActive = now.UnixNano()
	history := ch.cfg.Value().StoreHistory && !m.NoHistory
	if m.Kind != KindSend || !history && !ch.cfg.Value().StoreFrames {
		return
	}
	if ch.stored == nil {
		ch.stored = &storedFrames{}
	}
	if history {
		ch.stored.history = appendBounded(ch.stored.history, f, ch.historyLimit(maxHistory))
	}
	if ch.cfg.Value().StoreFrames {
		ch.stored.frames = appendBounded(ch.stored.frames, f, maxFrames)
	}
}

// edit applies e to the stored message with e's uuid, in history first,
// then in frames. Caller holds Hub.mu (read).
func (ch *Channel) edit(e *Message, now time.Time) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.lastActive = now.UnixNano()
	if f := findFrame(ch.historyLocked(), e.UUID); f != nil {
		f.edit(e)
		return
	}
	if f := findFrame(ch.framesLocked(), e.UUID); f != nil {
		f.edit(e)
	}
}

// delete removes the stored message with uuid from history and frames.
func (ch *Channel) delete(uuid string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.stored != nil {
		ch.stored.history = removeFrame(ch.stored.history, uuid)
		ch.stored.frames = removeFrame(ch.stored.frames, uuid)
	}
}

func (ch *Channel) historyEntries() []json.RawMessage {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	history := ch.historyLocked()
	out := make([]json.RawMessage, len(history))
	for i, f := range history {
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
