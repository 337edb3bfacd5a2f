package redisbroker

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// streamID is a Redis stream entry id, "ms-seq": milliseconds of the
// server's clock, then a sequence number within that millisecond.
type streamID struct {
	ms, seq uint64
}

// errBadID reports an id that is not "ms-seq".
var errBadID = errors.New("not a Redis stream id (ms-seq)")

// parseID parses a Redis stream id.
func parseID(s string) (streamID, error) {
	msText, seqText, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, fmt.Errorf("parse id %q: %w", s, errBadID)
	}
	ms, err := strconv.ParseUint(msText, 10, 64)
	if err != nil {
		return streamID{}, fmt.Errorf("parse id %q: %w", s, errBadID)
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return streamID{}, fmt.Errorf("parse id %q: %w", s, errBadID)
	}
	return streamID{ms: ms, seq: seq}, nil
}

// String formats id as Redis does, without leading zeros.
func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

// compare returns -1, 0 or +1 as id is before, equal to or after o.
func (id streamID) compare(o streamID) int {
	switch {
	case id.ms < o.ms:
		return -1
	case id.ms > o.ms:
		return 1
	case id.seq < o.seq:
		return -1
	case id.seq > o.seq:
		return 1
	}
	return 0
}

// CompareIDs returns -1, 0 or +1 as the entry id a is before, the same as
// or after b in the log: ids are Redis stream ids, compared as (ms, seq)
// pairs of numbers, not as strings. An id that does not parse sorts before
// every valid one (and two of them compare as strings).
func (l *Log) CompareIDs(a, b string) int {
	ia, errA := parseID(a)
	ib, errB := parseID(b)
	switch {
	case errA != nil && errB != nil:
		return strings.Compare(a, b)
	case errA != nil:
		return -1
	case errB != nil:
		return 1
	}
	return ia.compare(ib)
}
