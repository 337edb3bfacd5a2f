package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// ErrUnavailable is wrapped by every error a Log returns when its backend
// cannot be reached. The API answers it with 503.
var ErrUnavailable = errors.New("backend unavailable")

// ErrNotStored is wrapped, besides ErrUnavailable, by an error of Append
// when the entry was certainly not stored (the backend was never reached:
// the connection could not be opened). Any other error of Append leaves
// the entry's fate open: it may have been stored, and may still be (a
// command written before a timeout is served when the backend wakes up).
var ErrNotStored = errors.New("not stored")

// ErrOutcomeUnknown is returned by a change whose entry may or may not
// have been stored and applied: the log neither confirmed it nor took the
// entry that withdraws it within Config.ReplicateTimeout (see settle in
// cluster.go). The API answers it with 504.
var ErrOutcomeUnknown = errors.New("outcome unknown")

// ErrReset is wrapped by the error a Log's Follow passes to onErr when the
// log was reset under it (a Redis restarted empty): Follow goes on with the
// new log's entries, but entries and the snapshot of the old one are gone,
// so the node writes a snapshot at once.
var ErrReset = errors.New("log reset")

// Entry is one operation of a Log.
type Entry struct {
	// ID identifies the entry; ids grow in log order (a Log says how they
	// compare; callers only pass them back).
	ID string
	// Op is the operation, as given to Append.
	Op []byte
}

// Log is the ordered record of every change to the hub's state that the
// nodes of a cluster share (DESIGN.md's Broker): each node appends its
// operations and applies every entry, its own included, in the one order
// the log gives, so every node holds the same users, connections, channels,
// presence, history and statistics. One node needs no Log.
//
// Contract:
//   - Append stores op after every entry already stored and returns its id.
//     It never blocks for longer than ctx allows. When the backend cannot be
//     reached it returns an error wrapping ErrUnavailable; when it knows
//     the entry was not stored it wraps ErrNotStored too. Without
//     ErrNotStored the entry may have been stored, or may be stored later
//     (a network backend served a command that timed out); nodes then
//     apply it like any other entry, unless a void entry for it came
//     first (the hub settles such changes that way, see cluster.go).
//   - Follow calls fn with every entry stored after the entry with id after
//     ("" means from the oldest entry still kept), in log order, each exactly
//     once, from one goroutine, until ctx is done; it then returns nil.
//     While the backend is unreachable it keeps retrying by itself (calling
//     onErr, which may be nil, with each failure) and continues where it
//     stopped; when the log was reset under it, it calls onErr with an
//     error wrapping ErrReset and continues with the new log's entries.
//     fn must not block for long and must not modify Entry.Op (followers
//     may share it).
//   - SaveSnapshot stores state as describing the log up to and including
//     the entry id, and may then forget the entries up to the previous
//     snapshot's id (never later ones: a node that loaded the previous
//     snapshot an instant before must still find the entries after it);
//     both happen atomically. A snapshot older than the stored one is ignored (nil
//     error): the entries it would need may be gone. LoadSnapshot returns
//     the newest snapshot, or "" and nil when there is none.
//   - Ping returns nil when the backend is reachable.
//
// Every implementation passes the conformance suite in core/coretest.
type Log interface {
	Append(ctx context.Context, op []byte) (string, error)
	Follow(ctx context.Context, after string, fn func(Entry), onErr func(error)) error
	SaveSnapshot(ctx context.Context, id string, state []byte) error
	LoadSnapshot(ctx context.Context) (id string, state []byte, err error)
	Ping(ctx context.Context) error
}

var _ Log = (*MemoryLog)(nil)

// MemoryLog is a Log held in memory, for several hubs in one process (tests
// and examples). Ids are decimal positions starting at 1. The zero value is
// ready to use.
type MemoryLog struct {
	mu      sync.Mutex
	cond    *sync.Cond
	entries []Entry // entries after base
	base    uint64  // id of the entry before entries[0]
	snapID  string
	snap    []byte
	down    bool
}

// NewMemoryLog returns an empty MemoryLog.
func NewMemoryLog() *MemoryLog { return &MemoryLog{} }

func (l *MemoryLog) condLocked() *sync.Cond {
	if l.cond == nil {
		l.cond = sync.NewCond(&l.mu)
	}
	return l.cond
}

// SetDown makes every call fail with ErrUnavailable (true) or work again
// (false), as a network backend does when it goes away and comes back.
func (l *MemoryLog) SetDown(down bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = down
	l.condLocked().Broadcast()
}

// Append implements Log.
func (l *MemoryLog) Append(_ context.Context, op []byte) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return "", fmt.Errorf("memory log append: %w: %w", ErrUnavailable, ErrNotStored)
	}
	id := strconv.FormatUint(l.base+uint64(len(l.entries))+1, 10)
	l.entries = append(l.entries, Entry{ID: id, Op: append([]byte(nil), op...)})
	l.condLocked().Broadcast()
	return id, nil
}

// Follow implements Log.
func (l *MemoryLog) Follow(ctx context.Context, after string, fn func(Entry), onErr func(error)) error {
	var pos uint64
	if after != "" {
		p, err := strconv.ParseUint(after, 10, 64)
		if err != nil {
			return fmt.Errorf("memory log follow after %q: %w", after, err)
		}
		pos = p
	}
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.condLocked().Broadcast()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	reported := false // this outage was reported to onErr
	for {
		for ctx.Err() == nil && (l.down || pos >= l.base+uint64(len(l.entries))) {
			if l.down && !reported && onErr != nil {
				reported = true
				l.mu.Unlock()
				onErr(fmt.Errorf("memory log follow: %w", ErrUnavailable))
				l.mu.Lock()
				continue
			}
			l.condLocked().Wait()
		}
		reported = false
		if ctx.Err() != nil {
			return nil
		}
		pos = max(pos, l.base)
		batch := append([]Entry(nil), l.entries[pos-l.base:]...)
		pos += uint64(len(batch))
		l.mu.Unlock()
		for _, e := range batch {
			fn(e)
		}
		l.mu.Lock()
	}
}

// SaveSnapshot implements Log: it forgets the entries up to the previous
// snapshot's id.
func (l *MemoryLog) SaveSnapshot(_ context.Context, id string, state []byte) error {
	p, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return fmt.Errorf("memory log snapshot at %q: %w", id, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return fmt.Errorf("memory log snapshot: %w", ErrUnavailable)
	}
	if cur, err := strconv.ParseUint(l.snapID, 10, 64); err == nil && p < cur {
		return nil // keep the newer one: the entries an older one needs are gone
	}
	if p > l.base+uint64(len(l.entries)) {
		return fmt.Errorf("memory log snapshot at %q: after the last entry", id)
	}
	if prev, err := strconv.ParseUint(l.snapID, 10, 64); err == nil && prev > l.base {
		l.entries = append([]Entry(nil), l.entries[prev-l.base:]...)
		l.base = prev
	}
	l.snapID, l.snap = id, append([]byte(nil), state...)
	return nil
}

// LoadSnapshot implements Log.
func (l *MemoryLog) LoadSnapshot(context.Context) (string, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return "", nil, fmt.Errorf("memory log load snapshot: %w", ErrUnavailable)
	}
	return l.snapID, append([]byte(nil), l.snap...), nil
}

// Ping implements Log.
func (l *MemoryLog) Ping(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return fmt.Errorf("memory log: %w", ErrUnavailable)
	}
	return nil
}
