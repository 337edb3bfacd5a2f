package core

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Cursor is a connection's resume point in a cluster with a DataPlane: the
// seq of the last frame the client received and, for each partition of the
// connection's streams, the position of the last entry of that partition
// it received (or skipped). Any node can resume the connection from it,
// also after the node that served it died.
//
// Its text form (String, ParseCursor) is "<seq>" followed by
// "-<partition>.<epoch>.<n>" for each partition, in increasing partition
// order: digits, '.' and '-' only, so it is safe as an SSE event id and in
// a URL query. A bare "<seq>" (no partition) is a plain seq, as a client
// that knows only last_seq sends it.
type Cursor struct {
	Seq uint64
	// Pos holds at most one Pos per partition, sorted by partition.
	Pos []Pos
}

// maxCursorLen bounds the text form ParseCursor accepts.
const maxCursorLen = 4096

// ErrBadCursor is what ParseCursor returns (wrapped) for text that is not a
// cursor.
var ErrBadCursor = errors.New("bad resume cursor")

// String returns the cursor's text form.
func (c Cursor) String() string {
	return string(appendCursor(make([]byte, 0, 16+24*len(c.Pos)), c.Seq, c.Pos))
}

// ParseCursor reads a cursor's text form. It fails (wrapping ErrBadCursor)
// on anything else: empty text, more than 4096 bytes, a number out of
// range, an epoch of 0, partitions out of order or repeated.
func ParseCursor(s string) (Cursor, error) {
	if s == "" || len(s) > maxCursorLen {
		return Cursor{}, fmt.Errorf("%w: %d bytes", ErrBadCursor, len(s))
	}
	parts := strings.Split(s, "-")
	seq, err := strconv.ParseUint(parts[0], 10, 64)
	if err != nil {
		return Cursor{}, fmt.Errorf("%w: seq %q", ErrBadCursor, parts[0])
	}
	c := Cursor{Seq: seq}
	for _, part := range parts[1:] {
		f := strings.Split(part, ".")
		if len(f) != 3 {
			return Cursor{}, fmt.Errorf("%w: position %q is not partition.epoch.n", ErrBadCursor, part)
		}
		p, err1 := strconv.ParseUint(f[0], 10, 31)
		e, err2 := strconv.ParseUint(f[1], 10, 32)
		n, err3 := strconv.ParseUint(f[2], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil || e == 0 {
			return Cursor{}, fmt.Errorf("%w: position %q", ErrBadCursor, part)
		}
		if k := len(c.Pos); k > 0 && c.Pos[k-1].Partition >= int(p) {
			return Cursor{}, fmt.Errorf("%w: partitions out of order at %q", ErrBadCursor, part)
		}
		c.Pos = append(c.Pos, Pos{Partition: int(p), Epoch: uint32(e), N: n})
	}
	return c, nil
}

// At returns the cursor's position in partition p, and false when it has
// none.
func (c Cursor) At(p int) (Pos, bool) { return posAt(c.Pos, p) }
