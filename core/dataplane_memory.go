package core

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

var _ DataPlane = (*MemoryDataPlane)(nil)

// MemoryDataPlane is a DataPlane held in memory, for several hubs in one
// process (tests, and the hub's cluster code run without Redis). Set its
// fields before the first call; the zero value is ready to use.
type MemoryDataPlane struct {
	// NumPartitions is how many partitions the streams are spread over.
	// Default 16.
	NumPartitions int
	// MaxLen is how many entries each stream keeps (the oldest beyond it
	// are trimmed when a new one is published). Default 10 000.
	MaxLen int
	// MaxAge trims, when a stream is published to, its entries older than
	// this. Default 0: no trimming by age.
	MaxAge time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time

	once    sync.Once
	mu      sync.Mutex
	parts   []memPartition
	streams map[Stream]*memStream
	history map[string][]HistoryEntry
	subs    map[*memSubscriber]struct{}
	cursors map[string]memCursor
	down    bool
}

// memCursor is a saved cursor and when it expires.
type memCursor struct {
	cursor  []byte
	expires time.Time
}

// memPartition is one partition's counter and epoch.
type memPartition struct {
	n     uint64
	epoch uint32
}

// memStream is one stream's retained entries.
type memStream struct {
	entries []StreamEntry
	trimmed uint64 // greatest N trimmed away (0: none)
}

// NewMemoryDataPlane returns an empty MemoryDataPlane with default settings.
func NewMemoryDataPlane() *MemoryDataPlane { return &MemoryDataPlane{} }

// initLocked fills the defaults and the partitions on first use.
func (d *MemoryDataPlane) initLocked() {
	d.once.Do(func() {
		if d.NumPartitions <= 0 {
			d.NumPartitions = 16
		}
		if d.MaxLen <= 0 {
			d.MaxLen = 10_000
		}
		if d.Now == nil {
			d.Now = time.Now
		}
		d.parts = make([]memPartition, d.NumPartitions)
		for i := range d.parts {
			d.parts[i].epoch = newEpoch(0)
		}
		d.streams = make(map[Stream]*memStream)
		d.history = make(map[string][]HistoryEntry)
		d.subs = make(map[*memSubscriber]struct{})
		d.cursors = make(map[string]memCursor)
	})
}

// newEpoch returns a random epoch other than 0 and old.
func newEpoch(old uint32) uint32 {
	for {
		if e := rand.Uint32(); e != 0 && e != old {
			return e
		}
	}
}

// SetDown makes every call fail with ErrUnavailable (true) or work again
// (false), as a network backend does when it goes away and comes back.
func (d *MemoryDataPlane) SetDown(down bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = down
}

// Reset forgets every entry and the history and gives every partition a new
// epoch, as a Redis that restarted empty does.
func (d *MemoryDataPlane) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	for i := range d.parts {
		d.parts[i] = memPartition{epoch: newEpoch(d.parts[i].epoch)}
	}
	clear(d.streams)
	clear(d.history)
	clear(d.cursors)
}

// Partitions implements DataPlane.
func (d *MemoryDataPlane) Partitions() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	return d.NumPartitions
}

// Partition implements DataPlane.
func (d *MemoryDataPlane) Partition(s Stream) int { return PartitionOf(s, d.Partitions()) }

// errDown is the error of a call while SetDown(true).
func errDown(what string) error { return fmt.Errorf("memory data plane %s: %w", what, ErrUnavailable) }

// Publish implements DataPlane.
func (d *MemoryDataPlane) Publish(_ context.Context, pubs []Publication) ([]Pos, error) {
	if err := CheckPublications(pubs); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	if d.down {
		return nil, fmt.Errorf("%w: %w", errDown("publish"), ErrNotStored)
	}
	now := d.Now().Truncate(time.Millisecond)
	out := make([]Pos, len(pubs))
	for i, p := range pubs {
		k := PartitionOf(p.Stream, d.NumPartitions)
		part := &d.parts[k]
		part.n++
		e := StreamEntry{
			Stream: p.Stream,
			Pos:    Pos{Partition: k, N: part.n, Epoch: part.epoch},
			Time:   now,
			Data:   slices.Clone(p.Data),
		}
		d.appendLocked(e, now)
		if p.Stream.Kind == ChannelStream {
			d.history[p.Stream.Name] = applyHistory(d.history[p.Stream.Name], p.History)
		}
		for sub := range d.subs {
			sub.offerLocked(e)
		}
		out[i] = e.Pos
	}
	return out, nil
}

// appendLocked stores e in its stream and trims the stream.
func (d *MemoryDataPlane) appendLocked(e StreamEntry, now time.Time) {
	st := d.streams[e.Stream]
	if st == nil {
		st = &memStream{}
		d.streams[e.Stream] = st
	}
	st.entries = append(st.entries, e)
	cut := max(0, len(st.entries)-d.MaxLen)
	if d.MaxAge > 0 {
		for cut < len(st.entries) && now.Sub(st.entries[cut].Time) > d.MaxAge {
			cut++
		}
	}
	if cut > 0 {
		st.trimmed = st.entries[cut-1].Pos.N
		st.entries = slices.Delete(st.entries, 0, cut)
	}
}

// applyHistory returns list with op applied; it copies what it keeps.
func applyHistory(list []HistoryEntry, op HistoryOp) []HistoryEntry {
	i := slices.IndexFunc(list, func(e HistoryEntry) bool { return e.ID == op.ID })
	switch op.Kind {
	case HistoryAppend:
		list = append(list, HistoryEntry{ID: op.ID, Fields: cloneFields(op.Fields)})
		if over := len(list) - op.Limit; over > 0 {
			list = slices.Delete(list, 0, over)
		}
	case HistoryEdit:
		if i >= 0 {
			f := maps.Clone(list[i].Fields)
			maps.Copy(f, cloneFields(op.Fields))
			list[i].Fields = f
		}
	case HistoryDelete:
		if i >= 0 {
			list = slices.Delete(list, i, i+1)
		}
	}
	return list
}

func cloneFields(f map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(f))
	for k, v := range f {
		out[k] = slices.Clone(v)
	}
	return out
}

// Heads implements DataPlane.
func (d *MemoryDataPlane) Heads(_ context.Context, streams []Stream) ([]Pos, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	if d.down {
		return nil, errDown("heads")
	}
	out := make([]Pos, len(streams))
	for i, s := range streams {
		out[i] = d.headLocked(PartitionOf(s, d.NumPartitions))
	}
	return out, nil
}

func (d *MemoryDataPlane) headLocked(k int) Pos {
	return Pos{Partition: k, N: d.parts[k].n, Epoch: d.parts[k].epoch}
}

// Read implements DataPlane.
func (d *MemoryDataPlane) Read(_ context.Context, s Stream, after Pos, limit int) (ReadResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	if d.down {
		return ReadResult{}, errDown("read")
	}
	k := PartitionOf(s, d.NumPartitions)
	res := ReadResult{Head: d.headLocked(k)}
	from := after.N
	if after.Epoch != 0 && after.Epoch != res.Head.Epoch {
		res.Reset, from = true, 0
	}
	st := d.streams[s]
	if st == nil {
		return res, nil
	}
	res.Trimmed = st.trimmed > from
	i, _ := slices.BinarySearchFunc(st.entries, from, func(e StreamEntry, n uint64) int {
		return cmp.Compare(e.Pos.N, n+1)
	})
	rest := st.entries[i:]
	if limit > 0 && len(rest) > limit {
		rest, res.More = rest[:limit], true
	}
	res.Entries = slices.Clone(rest)
	return res, nil
}

// History implements DataPlane.
func (d *MemoryDataPlane) History(_ context.Context, channel string) ([]HistoryEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	if d.down {
		return nil, errDown("history")
	}
	return d.historyLocked(channel), nil
}

// Histories implements DataPlane.
func (d *MemoryDataPlane) Histories(_ context.Context, channels []string) ([][]HistoryEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	if d.down {
		return nil, errDown("histories")
	}
	out := make([][]HistoryEntry, len(channels))
	for i, ch := range channels {
		out[i] = d.historyLocked(ch)
	}
	return out, nil
}

// historyLocked returns a copy of channel's history (nil when empty).
// Caller holds d.mu.
func (d *MemoryDataPlane) historyLocked(channel string) []HistoryEntry {
	list := d.history[channel]
	if len(list) == 0 {
		return nil
	}
	out := make([]HistoryEntry, len(list))
	for i, e := range list {
		out[i] = HistoryEntry{ID: e.ID, Fields: cloneFields(e.Fields)}
	}
	return out
}

// DeleteHistory implements DataPlane.
func (d *MemoryDataPlane) DeleteHistory(_ context.Context, channel string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	if d.down {
		return errDown("delete history")
	}
	delete(d.history, channel)
	return nil
}

// Ping implements DataPlane.
func (d *MemoryDataPlane) Ping(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return errDown("ping")
	}
	return nil
}

// SaveCursor implements DataPlane.
func (d *MemoryDataPlane) SaveCursor(_ context.Context, connID string, cursor []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("save cursor of %q: ttl %v", connID, ttl)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	if d.down {
		return errDown("save cursor")
	}
	d.cursors[connID] = memCursor{cursor: slices.Clone(cursor), expires: d.Now().Add(ttl)}
	return nil
}

// LoadCursor implements DataPlane.
func (d *MemoryDataPlane) LoadCursor(_ context.Context, connID string) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	if d.down {
		return nil, errDown("load cursor")
	}
	c, ok := d.cursors[connID]
	if !ok || !d.Now().Before(c.expires) {
		delete(d.cursors, connID)
		return nil, nil
	}
	return slices.Clone(c.cursor), nil
}

// errSubscriberClosed is the error of Add after Close.
var errSubscriberClosed = errors.New("subscriber closed")
