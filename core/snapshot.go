package core

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"time"
)

// A clustered node writes its state to the log every Config.SnapshotEvery
// entries, so that a node that starts later (or restarts) loads it and
// follows the log from there instead of from the beginning, and so that the
// log may forget older entries. The snapshot is taken while applying the
// node's own snapshot entry, so it describes the log exactly up to that
// entry. It holds users, connections (with their channels, seq counters and
// the newest snapshotQueueFrames frames of their queues), channels (configs,
// members, history, stored frames) and the counters every node shares. In
// data-plane mode (Hub.dp set) it holds no frames, queues, history or
// message counters: those live in the DataPlane and on the node that
// holds each connection (and the message counters in Config.StatsBoard).

// snapshotQueueFrames is how many of a connection's newest queued frames a
// snapshot keeps: a client that resumes on a node restored from a snapshot
// from an older seq is told of the gap.
const snapshotQueueFrames = 100

// snapshotVersion changes when the format does.
const snapshotVersion = 1

type snapState struct {
	Version   int           `json:"version"`
	Frames    []snapFrame   `json:"frames"`
	Users     []snapUser    `json:"users"`
	Channels  []snapChannel `json:"channels"`
	Conns     []snapConn    `json:"conns"`
	Messages  int64         `json:"total_messages"`
	Unique    int64         `json:"total_unique_messages"`
	Collected int64         `json:"collected_conns"`
	Forgotten int64         `json:"collected_users"`
	// Voided are the withdrawn entries not seen yet (replicator.voided).
	Voided map[string]int64 `json:"voided,omitempty"`
	// Leases are the nodes' last leases (Hub.leases), unix nanoseconds.
	Leases map[string]int64 `json:"leases,omitempty"`
}

// snapFrame is a frame: a message frame by its message, others by body.
type snapFrame struct {
	Msg         *Message        `json:"msg,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
	LiveCatchup bool            `json:"live_catchup,omitempty"`
}

type snapUser struct {
	Name       string   `json:"name"`
	UUID       string   `json:"uuid"`
	State      State    `json:"state"`
	PublicKeys []string `json:"public_keys"`
	LastActive int64    `json:"last_active"`
	Frames     []int    `json:"frames"`
}

type snapChannel struct {
	Name       string        `json:"name"`
	UUID       string        `json:"uuid"`
	Config     ChannelConfig `json:"config"`
	History    []int         `json:"history"`
	Frames     []int         `json:"frames"`
	LastActive int64         `json:"last_active"`
	// IdleSince is Channel.idleSince (0 in older snapshots: LastActive).
	IdleSince int64 `json:"idle_since,omitempty"`
}

type snapConn struct {
	ID         string      `json:"id"`
	User       string      `json:"user"`
	Channels   []string    `json:"channels"`
	LastActive int64       `json:"last_active"`
	Holder     string      `json:"holder,omitempty"`
	NextSeq    uint64      `json:"next_seq"`
	Sent       uint64      `json:"sent"`
	Queue      []snapEntry `json:"queue"`
	// Joins and Rel are Conn.joins and Conn.rel (data-plane mode).
	Joins []streamJoin `json:"joins,omitempty"`
	Rel   *Cursor      `json:"rel,omitempty"`
}

type snapEntry struct {
	Seq     uint64 `json:"seq"`
	Frame   int    `json:"frame"`
	Catchup bool   `json:"catchup,omitempty"`
}

// frameTable numbers frames so that a frame shared by many queues is
// written once.
type frameTable struct {
	index  map[*Frame]int
	frames []snapFrame
}

func (t *frameTable) ref(f *Frame) int {
	if i, ok := t.index[f]; ok {
		return i
	}
	i := len(t.frames)
	t.index[f] = i
	sf := snapFrame{LiveCatchup: f.liveCatchup}
	if m := f.message(); m != nil {
		sf.Msg = m
	} else {
		sf.Body = f.Body()
	}
	t.frames = append(t.frames, sf)
	return i
}

func (t *frameTable) refs(list []*Frame) []int {
	out := make([]int, len(list))
	for i, f := range list {
		out[i] = t.ref(f)
	}
	return out
}

// snapshot encodes the hub's state. Only the applying goroutine calls it,
// so nothing changes while it runs; it still takes the locks the readers
// of each part expect.
//
// Users, channels and connections are encoded one by one straight into
// the document (frames, which they refer to by number, come last), into a
// buffer sized after the previous snapshot: every node of a cluster keeps
// every connection, and a snapshot built as a whole first (its lists of
// elements, then a buffer grown by doubling) made a transient of about
// four times the document, from which the heap did not come back soon.
func (h *Hub) snapshot() ([]byte, error) {
	t := &frameTable{index: map[*Frame]int{}}
	st := snapState{
		Version:   snapshotVersion,
		Collected: h.stats.CollectedConns.Load(),
		Forgotten: h.stats.CollectedUsers.Load(),
	}
	frames := h.dp == nil // data-plane mode: no frames (see above)
	if frames {
		st.Messages, st.Unique = h.stats.TotalMessages.Load(), h.stats.TotalUniqueMessages.Load()
	}
	if h.repl != nil && len(h.repl.voided) > 0 {
		st.Voided = maps.Clone(h.repl.voided)
	}
	var b bytes.Buffer
	h.mu.RLock()
	if h.repl != nil {
		size := h.repl.snapSize
		if size == 0 { // the first: a guess, each element a few hundred bytes
			size = snapElementGuess * (len(h.users) + len(h.channels) + len(h.conns))
		}
		b.Grow(size + size/8)
	}
	st.encodeHead(&b)
	err := h.encodeStateLocked(&b, t, frames)
	if err == nil && len(h.leases) > 0 {
		st.Leases = maps.Clone(h.leases)
	}
	h.mu.RUnlock()
	if err == nil {
		err = encodeList(&b, "frames", t.frames)
	}
	if err == nil {
		err = st.encodeTail(&b)
	}
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	if h.repl != nil {
		h.repl.snapSize = b.Len()
	}
	return b.Bytes(), nil
}

// snapElementGuess is the bytes per user, channel or connection the first
// snapshot's buffer is sized for.
const snapElementGuess = 256

// snapReleaseBytes is the size from which a saved snapshot's memory is
// handed back to the operating system at once (see saveSnapshotAt).
const snapReleaseBytes = 1 << 20

// encodeStateLocked writes the users, channels and connections of a
// snapshot into b, numbering the frames they refer to in t (frames: false
// in data-plane mode, see above). Caller holds h.mu for reading.
func (h *Hub) encodeStateLocked(b *bytes.Buffer, t *frameTable, frames bool) error {
	b.WriteString(`,"users":[`)
	for i, name := range sortedKeys(h.users) {
		u := h.users[name]
		state := u.state
		if state == nil {
			state = State{}
		}
		su := snapUser{Name: name, UUID: u.uuid.String(), State: state, PublicKeys: u.keys(), LastActive: u.lastActive}
		if frames {
			u.mu.Lock()
			su.Frames = t.refs(u.framesLocked())
			u.mu.Unlock()
		}
		if err := encodeItem(b, "users", i, &su); err != nil {
			return err
		}
	}
	b.WriteString(`],"channels":[`)
	for i, name := range sortedKeys(h.channels) {
		ch := h.channels[name]
		ch.mu.Lock()
		sc := snapChannel{Name: name, UUID: ch.uuid.String(), Config: ch.cfg.Value(), LastActive: ch.lastActive, IdleSince: ch.idleSince}
		if frames {
			sc.History, sc.Frames = t.refs(ch.historyLocked()), t.refs(ch.framesLocked())
		}
		ch.mu.Unlock()
		if err := encodeItem(b, "channels", i, &sc); err != nil {
			return err
		}
	}
	b.WriteString(`],"conns":[`)
	ids := slices.SortedFunc(maps.Keys(h.conns), func(a, b uuid16) int { return bytes.Compare(a[:], b[:]) })
	for i, id := range ids {
		c := h.conns[id]
		sc := snapConn{ID: id.String(), User: c.user.name, Channels: c.channelNames(), LastActive: c.lastActive.Load(), Holder: c.holderNode()}
		c.mu.Lock()
		sc.Joins, sc.Rel = c.joinListLocked(h.dp), c.rel
		if l := c.connLocal; l != nil {
			sc.NextSeq, sc.Sent = l.nextSeq, l.sent
			for i := max(0, l.queue.len()-snapshotQueueFrames); frames && i < l.queue.len(); i++ {
				e := l.queue.at(i)
				sc.Queue = append(sc.Queue, snapEntry{Seq: e.seq, Frame: t.ref(e.frame), Catchup: e.catchup})
			}
		}
		err := encodeItem(b, "conns", i, &sc)
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
	b.WriteByte(']')
	return nil
}

// restore replaces the hub's (empty) state with a snapshot. It runs before
// the hub follows the log.
func (h *Hub) restore(data []byte) error {
	var st snapState
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	if st.Version != snapshotVersion {
		return fmt.Errorf("snapshot version %d, want %d", st.Version, snapshotVersion)
	}
	if h.repl != nil {
		h.repl.snapSize = len(data) // what the next snapshot's buffer is sized after
	}
	born := h.since(h.cfg.Now())
	frames := make([]*Frame, len(st.Frames))
	for i, sf := range st.Frames {
		if sf.Msg != nil {
			frames[i] = newMessageFrame(sf.Msg, born)
		} else {
			frames[i] = newFrame(sf.Body, sf.LiveCatchup, born)
		}
	}
	frameAt := func(r int) (*Frame, error) {
		if r < 0 || r >= len(frames) {
			return nil, fmt.Errorf("snapshot frame %d of %d", r, len(frames))
		}
		return frames[r], nil
	}
	pick := func(refs []int) ([]*Frame, error) {
		out := make([]*Frame, 0, len(refs))
		for _, r := range refs {
			f, err := frameAt(r)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		return out, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, su := range st.Users {
		id, ok := uuid16Of(su.UUID)
		if !ok {
			return fmt.Errorf("snapshot user %q: uuid %q is not a canonical UUID", su.Name, su.UUID)
		}
		u := newUser(su.Name, id, time.Unix(0, su.LastActive))
		if su.State != nil {
			u.state = su.State
		}
		u.setKeys(su.PublicKeys)
		frames, err := pick(su.Frames)
		if err != nil {
			return err
		}
		u.setFramesLocked(frames)
		h.users[su.Name] = u
	}
	for _, sc := range st.Channels {
		id, ok := uuid16Of(sc.UUID)
		if !ok {
			return fmt.Errorf("snapshot channel %q: uuid %q is not a canonical UUID", sc.Name, sc.UUID)
		}
		ch := newChannel(sc.Name, id, sc.Config, time.Unix(0, sc.LastActive))
		if sc.IdleSince != 0 {
			ch.idleSince = sc.IdleSince
		}
		history, err := pick(sc.History)
		if err != nil {
			return err
		}
		frames, err := pick(sc.Frames)
		if err != nil {
			return err
		}
		if len(history) > 0 || len(frames) > 0 {
			ch.stored = &storedFrames{history: history, frames: frames}
		}
		h.channels[sc.Name] = ch
	}
	for _, sc := range st.Conns {
		u := h.users[sc.User]
		if u == nil {
			return fmt.Errorf("snapshot conn %s of unknown user %q", sc.ID, sc.User)
		}
		id, ok := uuid16Of(sc.ID)
		if !ok {
			return fmt.Errorf("snapshot conn %q: id is not a canonical UUID", sc.ID)
		}
		// In data-plane mode, a connection this node never served was
		// written with no seq and no queue: it gets no local state.
		local := h.dp == nil || sc.NextSeq > 1 || sc.Sent > 0 || len(sc.Queue) > 0
		c := newConn(id, u, h.queueLimits(), local, time.Unix(0, sc.LastActive))
		c.setHolder(sc.Holder)
		if local {
			c.nextSeq, c.sent = max(sc.NextSeq, 1), sc.Sent
		}
		c.setJoinsLocked(sc.Joins)
		c.rel = sc.Rel
		for _, e := range sc.Queue {
			f, err := frameAt(e.Frame)
			if err != nil {
				return err
			}
			size := entrySize(f)
			c.queue.push(entry{seq: e.Seq, frame: f, size: size, catchup: e.Catchup}, h.cfg.QueueFrames+1)
			c.qBytes += size
		}
		h.conns[id] = c
		u.conns = append(u.conns, c)
		for _, name := range sc.Channels {
			ch := h.channels[name]
			if ch == nil {
				return fmt.Errorf("snapshot conn %s in unknown channel %q", sc.ID, name)
			}
			ch.add(c)
		}
	}
	if h.dp == nil { // data-plane mode: each node counts its own (StatsBoard)
		h.stats.TotalMessages.Store(st.Messages)
		h.stats.TotalUniqueMessages.Store(st.Unique)
	}
	h.stats.CollectedConns.Store(st.Collected)
	h.stats.CollectedUsers.Store(st.Forgotten)
	if h.repl != nil {
		h.repl.voided = map[string]int64{}
		maps.Copy(h.repl.voided, st.Voided)
		maps.Copy(h.leases, st.Leases)
	}
	return nil
}

// saveSnapshotAt encodes the state as of entry id (called while applying
// this node's snapshot entry) and stores it without blocking the applying.
func (h *Hub) saveSnapshotAt(id string) {
	data, err := h.snapshot()
	if err != nil {
		h.log.Error().Err(err).Msg("snapshot")
		return
	}
	go func() {
		size := len(data)
		ctx, cancel := context.WithTimeout(context.Background(), 4*h.cfg.ReplicateTimeout)
		defer cancel()
		err := h.repl.log.SaveSnapshot(ctx, id, data)
		data = nil
		if size >= snapReleaseBytes {
			// The document, and the garbage encoding it made, are a
			// transient of a few times the state that the heap would keep
			// for a long while (the GC's goal grew with it): hand it back
			// now. A full collection every Config.SnapshotEvery entries,
			// each far cheaper than the encoding that came before it.
			debug.FreeOSMemory()
		}
		if err != nil {
			h.stats.BrokerErrors.Add(1)
			h.log.Warn().Err(err).Msg("saving the snapshot failed")
			return
		}
		h.log.Debug().Str("entry", id).Int("bytes", size).Msg("snapshot saved")
	}()
}
