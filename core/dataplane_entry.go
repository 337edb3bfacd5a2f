package core

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A DataPlane entry's Data is a small header and the frame's JSON object
// (the body a client receives, without seq and catchup). The header carries
// what a receiving node needs to route the frame without decoding the JSON:
//
//	version byte (entryVersion)
//	flags byte: entryLiveCatchup, entryCounted
//	uvarint: the origin's publish time, unix nanoseconds
//	uvarint count, then count × (uvarint length, bytes): the pm users
//	uvarint count, then count × (uvarint length, bytes): the excluded users
//	the body
//
// A node decodes each entry once into a *Frame shared by every connection
// it holds that receives it.

const entryVersion = 1

// Entry header flags.
const (
	// entryLiveCatchup: the frame carries "catchup":false when live
	// (Frame.liveCatchup).
	entryLiveCatchup = 1 << iota
	// entryCounted: a published message, counted in Stats.TotalMessages
	// by the node that queues it (presence and state frames are not).
	entryCounted
)

// dpFrame is a decoded entry: the frame and its routing filters.
type dpFrame struct {
	frame   *Frame
	counted bool
	pm      []string // when non-empty, only these users receive it
	exclude []string // these users never receive it
}

// accepts reports whether the user receives the frame.
func (f *dpFrame) accepts(user string) bool {
	for _, u := range f.exclude {
		if u == user {
			return false
		}
	}
	if len(f.pm) == 0 {
		return true
	}
	for _, u := range f.pm {
		if u == user {
			return true
		}
	}
	return false
}

// encodeEntry returns an entry's Data for body with its routing header.
func encodeEntry(body []byte, flags byte, born int64, pm, exclude []string) []byte {
	size := 2 + binary.MaxVarintLen64 + len(body)
	for _, list := range [][]string{pm, exclude} {
		size += binary.MaxVarintLen64
		for _, u := range list {
			size += binary.MaxVarintLen64 + len(u)
		}
	}
	b := make([]byte, 0, size)
	b = append(b, entryVersion, flags)
	b = binary.AppendUvarint(b, uint64(max(born, 0)))
	for _, list := range [][]string{pm, exclude} {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, u := range list {
			b = binary.AppendUvarint(b, uint64(len(u)))
			b = append(b, u...)
		}
	}
	return append(b, body...)
}

var errBadEntry = errors.New("malformed data plane entry")

// decodeEntry reads an entry's Data. The frame shares data's memory (an
// entry's Data is never modified); born is the publish time in unix
// nanoseconds.
func decodeEntry(data []byte) (f dpFrame, flags byte, born int64, body []byte, err error) {
	if len(data) < 2 || data[0] != entryVersion {
		return f, 0, 0, nil, fmt.Errorf("%w: version", errBadEntry)
	}
	flags, rest := data[1], data[2:]
	t, n := binary.Uvarint(rest)
	if n <= 0 {
		return f, 0, 0, nil, fmt.Errorf("%w: time", errBadEntry)
	}
	rest = rest[n:]
	var lists [2][]string
	for i := range lists {
		count, n := binary.Uvarint(rest)
		if n <= 0 || count > uint64(len(rest)) {
			return f, 0, 0, nil, fmt.Errorf("%w: user list", errBadEntry)
		}
		rest = rest[n:]
		if count > 0 {
			lists[i] = make([]string, 0, count)
		}
		for range count {
			l, n := binary.Uvarint(rest)
			if n <= 0 || l > uint64(len(rest)-n) {
				return f, 0, 0, nil, fmt.Errorf("%w: user name", errBadEntry)
			}
			lists[i] = append(lists[i], string(rest[n:n+int(l)]))
			rest = rest[n+int(l):]
		}
	}
	if len(rest) < 2 || rest[0] != '{' {
		return f, 0, 0, nil, fmt.Errorf("%w: body", errBadEntry)
	}
	f = dpFrame{counted: flags&entryCounted != 0, pm: lists[0], exclude: lists[1]}
	return f, flags, int64(t), rest, nil
}

// frameOf decodes an entry into the frame this node queues: born by this
// hub's clock origin, pos the entry's.
func (h *Hub) frameOf(e StreamEntry) (dpFrame, error) {
	f, flags, born, body, err := decodeEntry(e.Data)
	if err != nil {
		return f, fmt.Errorf("entry %v of %v: %w", e.Pos, e.Stream, err)
	}
	f.frame = newFrame(body, flags&entryLiveCatchup != 0, born-h.started.UnixNano())
	f.frame.pos = e.Pos
	return f, nil
}
