// Package resume reads a client's resume point from a transport's request:
// last_seq (a decimal seq) and cursor (core.Cursor's text form), or an SSE
// event id that is either.
package resume

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/channelstream-go/channelstream-go/core"
)

// Point is where a client resumes, as core.AttachOptions takes it.
type Point struct {
	// Resume is true when the client named a point.
	Resume  bool
	LastSeq uint64
	// Cursor is the cursor's text as the client sent it, when it carries
	// partition positions. A cursor without any ("<seq>") is a plain seq:
	// it sets only LastSeq, as last_seq does.
	Cursor string
}

// Apply sets o's Resume, LastSeq and Cursor to the point.
func (p Point) Apply(o *core.AttachOptions) {
	o.Resume, o.LastSeq, o.Cursor = p.Resume, p.LastSeq, p.Cursor
}

// Fault says what is wrong with a query's resume point; several bits may
// be set.
type Fault uint8

const (
	// BadLastSeq: last_seq is not a decimal seq that fits a uint64.
	BadLastSeq Fault = 1 << iota
	// BadCursor: cursor is not what core.ParseCursor accepts.
	BadCursor
	// Disagree: both are valid but the cursor's seq is not last_seq.
	Disagree
)

// MsgBadCursor is the field message of a bad cursor, in the style of
// upstream's marshmallow messages.
const MsgBadCursor = "Not a valid resume cursor."

// MsgDisagree is the error of a query whose cursor and last_seq name
// different seqs.
const MsgDisagree = "cursor and last_seq disagree on the seq"

// FromQuery reads last_seq and cursor from q (the first value of each).
// Either one alone names the point; both must name the same seq. Disagree
// is reported only when neither is bad.
func FromQuery(q url.Values) (Point, Fault) {
	return FromFirst(func(key string) (string, bool) {
		if vs, ok := q[key]; ok {
			return vs[0], true
		}
		return "", false
	})
}

// FromFirst is FromQuery over first, which gives a key's first value and
// whether the key is there (as url.Values does), for a transport that
// reads its query without building url.Values.
func FromFirst(first func(key string) (string, bool)) (Point, Fault) {
	var p Point
	var f Fault
	seq, hasSeq := first("last_seq")
	cur, hasCur := first("cursor")
	if hasSeq {
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			f |= BadLastSeq
		}
		p.Resume, p.LastSeq = true, n
	}
	if hasCur {
		c, ok := parse(cur)
		switch {
		case !ok:
			f |= BadCursor
		case hasSeq && f == 0 && c.LastSeq != p.LastSeq:
			f |= Disagree
		default:
			p = c
		}
	}
	if f != 0 {
		return Point{}, f
	}
	return p, 0
}

// FromEventID reads an SSE event id (Last-Event-ID), surrounding spaces
// ignored: a decimal seq or a cursor. It reports false for anything else,
// which the transport ignores (PROTOCOL §3.2: never a 400).
func FromEventID(v string) (Point, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return Point{}, false
	}
	return parse(v)
}

// parse reads a cursor's text: a bare seq gives LastSeq only.
func parse(s string) (Point, bool) {
	c, err := core.ParseCursor(s)
	if err != nil {
		return Point{}, false
	}
	p := Point{Resume: true, LastSeq: c.Seq}
	if len(c.Pos) > 0 {
		p.Cursor = s
	}
	return p, true
}
