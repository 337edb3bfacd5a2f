package core

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StreamKind says whose stream a Stream is.
type StreamKind uint8

// The two kinds of stream: a channel's (its messages, presence and state
// frames) and a user's (private messages sent without a channel).
const (
	ChannelStream StreamKind = iota
	UserStream
)

// Stream names one stream of a DataPlane. It is comparable (a map key).
type Stream struct {
	Kind StreamKind
	// Name is the channel's or the user's name.
	Name string
}

// Pos is the position of an entry in its partition: entries of one
// partition are totally ordered by N within one Epoch. N counts from 1; a
// partition head of 0 means nothing was published there yet.
type Pos struct {
	Partition int
	N         uint64
	// Epoch names the life of the partition's data: a backend that lost it
	// (a Redis restarted empty) starts N from 1 again under another epoch,
	// so a cursor that carries an epoch detects the loss. Never 0 in a Pos
	// a DataPlane returns.
	Epoch uint32
}

// StreamEntry is one entry of a stream as Read and Subscriber deliver it.
type StreamEntry struct {
	Stream Stream
	Pos    Pos
	// Time is when the entry was stored, by the backend's clock, to the
	// millisecond.
	Time time.Time
	// Data are the bytes given to Publish. Callers must not modify them
	// (entries may be shared).
	Data []byte
	// Gap is set by a Subscriber on the first entry of Stream delivered
	// after entries of it were lost to this subscriber: trimmed by
	// retention while the backend could not be reached, or gone with a
	// backend that came back empty (then Pos.Epoch differs from the
	// previous entry's). A reset mark (see Subscriber) has Gap set, N 0
	// and no Data.
	Gap bool
}

// HistoryKind says what a publication does to its channel's history.
type HistoryKind uint8

// History effects: none, append a message (a send), replace some fields
// of a stored message (an edit), remove a stored message (a delete).
const (
	HistoryNone HistoryKind = iota
	HistoryAppend
	HistoryEdit
	HistoryDelete
)

// HistoryOp is the effect of a publication on its channel's history.
type HistoryOp struct {
	Kind HistoryKind
	// ID identifies the message (its uuid); Append stores it, Edit and
	// Delete find the stored message by it and do nothing when there is
	// none.
	ID string
	// Fields are, for Append, the message's fields (each value already
	// JSON); for Edit, the fields that replace the stored ones (others
	// stay). Unused by Delete.
	Fields map[string]json.RawMessage
	// Limit is, for Append, how many messages the history keeps: the
	// oldest beyond it are dropped. At least 1.
	Limit int
}

// HistoryEntry is one stored message of a channel's history.
type HistoryEntry struct {
	ID     string
	Fields map[string]json.RawMessage
}

// Publication is one entry to publish.
type Publication struct {
	Stream Stream
	// Data are the entry's bytes, opaque to the DataPlane (copied).
	Data []byte
	// History is the entry's effect on the channel's history; only a
	// ChannelStream publication may have one (Publish refuses others).
	History HistoryOp
}

// ReadResult is what Read returns.
type ReadResult struct {
	// Entries are the stream's entries after the position read from, in
	// N order, at most the limit given.
	Entries []StreamEntry
	// More is true when the limit cut Entries short: read again after the
	// last one.
	More bool
	// Trimmed is true when entries of the stream after the position read
	// from were removed by retention (count or age) before this read:
	// Entries start after a hole. An implementation that cannot tell
	// exactly may say true when the removed entries were all at or before
	// the position (when the position is older than the stream's oldest
	// entry kept and the entry just before it), never false when some
	// were after it.
	Trimmed bool
	// Reset is true when the position's epoch is not the partition's
	// current one (the data it referred to is gone): Entries are then read
	// from the start of the current epoch, and Trimmed says whether that
	// start is still complete.
	Reset bool
	// Head is the partition's head when the read was made.
	Head Pos
}

// DataPlane carries the messages, presence and state frames of a cluster
// (DESIGN.md, "Many nodes share the work"): every channel and every user has
// a stream, streams are grouped into Partitions() partitions, and each
// partition numbers its entries 1, 2, 3… (Pos.N) in one total order. Nodes
// publish to the streams, read them to catch a connection up, and subscribe
// only to the streams of the connections they hold. The channel history
// (messages with their edits and deletes) lives here too. One node without
// a cluster needs no DataPlane.
//
// Contract (every implementation passes the suite in core/coretest):
//   - Publish stores each publication as the next entry of its stream's
//     partition and applies its history effect, atomically per entry, and
//     returns the Pos of each, in the order given. Publications to one
//     partition are stored in the order given (their N grow in slice
//     order); there is no atomicity or order across partitions. On error,
//     the Pos of an entry not known to be stored is the zero Pos: it may
//     or may not have been stored, unless the error wraps ErrNotStored
//     (then none of those was). Publications CheckPublications refuses
//     are refused before anything is stored.
//   - Heads returns, for each stream, its partition's head: the Pos of the
//     newest entry of the partition (N 0 when there is none), with the
//     partition's current Epoch. Every entry published after Heads
//     returned has a greater N in that epoch: it is a join point.
//   - Read returns the entries of s whose N is greater than after.N in the
//     partition's current epoch (see ReadResult for trimming and resets;
//     after.Epoch 0 means "the current epoch"; after.Partition is ignored),
//     at most limit (limit <= 0 means no limit). Reads of different
//     streams are separate snapshots: to merge several streams of one
//     partition (a catch-up), subscribe them first, then deliver from the
//     reads only entries up to the Head of the first read, and take the
//     later ones from the subscription; delivering an entry a later read
//     returned would make the live copies of other streams' entries
//     before it look already delivered.
//   - History returns the channel's stored messages, oldest first, with
//     every edit applied and every deleted one removed (nil when none).
//     Histories is History for many channels at once, in the order given
//     (the same channel may come twice), in as few round trips as the
//     backend allows (the Redis DataPlane: one pipeline per master). On
//     error it returns no history at all. DeleteHistory forgets them all (a collected channel's history goes
//     with it); entries stay.
//   - NewSubscriber returns a Subscriber that calls fn for the entries of
//     the streams it has references to (see Subscriber); onErr (may be nil)
//     receives each failure of the backend it met while listening.
//   - Partition returns s's partition in [0, Partitions()): PartitionOf(s,
//     Partitions()), the same on every node whatever the implementation.
//   - Ping returns nil when the backend is reachable.
//   - SaveCursor stores cursor under connID for ttl (> 0), replacing what
//     was there: the hand-over of a connection's resume point by the node
//     that detaches or drains it, for the node it resumes on. LoadCursor
//     returns it (a copy), or nil and no error when there is none (never
//     saved, or expired).
//
// Every method is safe for concurrent use and bounded by ctx. Errors from an
// unreachable backend wrap ErrUnavailable. The DataPlane's creator closes
// it (implementations say how); callers never do.
type DataPlane interface {
	Partitions() int
	Partition(s Stream) int
	Publish(ctx context.Context, pubs []Publication) ([]Pos, error)
	Heads(ctx context.Context, streams []Stream) ([]Pos, error)
	Read(ctx context.Context, s Stream, after Pos, limit int) (ReadResult, error)
	History(ctx context.Context, channel string) ([]HistoryEntry, error)
	Histories(ctx context.Context, channels []string) ([][]HistoryEntry, error)
	DeleteHistory(ctx context.Context, channel string) error
	NewSubscriber(fn func(StreamEntry), onErr func(error)) Subscriber
	Ping(ctx context.Context) error
	SaveCursor(ctx context.Context, connID string, cursor []byte, ttl time.Duration) error
	LoadCursor(ctx context.Context, connID string) ([]byte, error)
}

// Subscriber is one node's live view of the streams it needs. It keeps a
// reference count per stream: only streams with at least one reference
// reach the node.
//
// Contract:
//   - Add takes a reference to s. When it returns nil, fn is called with
//     every entry of s published after Add returned (and possibly some
//     published while Add ran: callers skip by N what they have), for as
//     long as s keeps a reference: each entry exactly once, and the entries
//     of one partition in increasing N (within an epoch). On error (wrapping
//     ErrUnavailable when the backend cannot be reached) no reference was
//     taken.
//   - Remove drops a reference; after the last one is dropped, fn is not
//     called for s again, except for a call already under way. Removing a
//     stream without a reference does nothing.
//   - Calls of fn for one partition never overlap, and come in N order;
//     calls for different partitions may run at the same time, or one
//     after the other on one goroutine (the Redis Subscriber calls fn for
//     every partition of a master from the goroutine that reads its
//     connection). fn must not block (it holds up its partition, and maybe
//     others) and must not call the Subscriber.
//   - When the backend connection breaks, the Subscriber reconnects by
//     itself and catches up every referenced stream from the last entry it
//     delivered, so nothing is lost or repeated; entries that are gone by
//     then (trimmed, or the backend came back empty) are reported with
//     StreamEntry.Gap on the next entry of that stream. When the catch-up
//     finds the partition in a new epoch (the backend came back empty), a
//     stream it has no entry of to deliver is reported at once instead,
//     by a reset mark: a call with an entry of that stream whose Pos is
//     N 0 in the new epoch, with Gap set and no Data (the stream's next
//     entry is then not marked). The mark goes out at once because
//     nothing is left to read of the old epoch: a stream may stay quiet
//     long after. Callers tell a mark by its N 0.
//   - Close drops every reference and waits until fn is no longer called;
//     Add after Close fails. The caller of NewSubscriber closes it.
type Subscriber interface {
	Add(ctx context.Context, s Stream) error
	Remove(s Stream)
	Close() error
}

// PartitionOf returns the partition of s among partitions (> 0): FNV-1a of
// the channel's name, or of "u:" and the user's name, modulo partitions.
func PartitionOf(s Stream, partitions int) int {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	if s.Kind == UserStream {
		h = (h ^ 'u') * prime
		h = (h ^ ':') * prime
	}
	for i := 0; i < len(s.Name); i++ {
		h = (h ^ uint64(s.Name[i])) * prime
	}
	return int(h % uint64(partitions))
}

// String returns "channel NAME" or "user NAME", for errors and logs.
func (s Stream) String() string {
	if s.Kind == UserStream {
		return "user " + strconv.Quote(s.Name)
	}
	return "channel " + strconv.Quote(s.Name)
}

// CheckPublications returns an error for the first publication a DataPlane
// must refuse: a history effect on a UserStream, a history effect without
// an ID (or with a newline in it), an Append with a Limit below 1, an
// unknown HistoryKind. Implementations call it before storing anything.
func CheckPublications(pubs []Publication) error {
	for i, p := range pubs {
		h := p.History
		switch {
		case h.Kind == HistoryNone:
		case p.Stream.Kind != ChannelStream:
			return fmt.Errorf("publication %d: history effect on %v", i, p.Stream)
		case h.ID == "" || strings.Contains(h.ID, "\n"):
			return fmt.Errorf("publication %d to %v: history effect without a message id (or with a newline in it)", i, p.Stream)
		case h.Kind == HistoryAppend && h.Limit < 1:
			return fmt.Errorf("publication %d to %v: history limit %d below 1", i, p.Stream, h.Limit)
		case h.Kind > HistoryDelete:
			return fmt.Errorf("publication %d to %v: unknown history kind %d", i, p.Stream, h.Kind)
		}
	}
	return nil
}
