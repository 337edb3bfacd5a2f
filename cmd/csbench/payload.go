package main

import (
	"bytes"
	"strconv"
)

// A benchmark message carries {"csb":[seq,sent]} as its "message" (or its
// Centrifugo publication data): seq numbers the publishes of a run from 0
// and sent is the scheduled send time in unix nanoseconds. Servers pass the
// object through, compacted (channelstream-go, Centrifugo) or pretty-printed
// (Python channelstream), so subscribers find it with a byte search that
// tolerates white space instead of a JSON decode, which keeps the load
// generator cheap at 10⁵ deliveries/s.
var (
	markerKey = []byte(`"csb"`)
	seqKey    = []byte(`"seq"`)
)

// appendMarker appends the message object for seq, scheduled at sent, padded
// with a "pad" string of pad bytes (none when pad ≤ 0).
func appendMarker(dst []byte, seq uint64, sent int64, pad int) []byte {
	dst = append(dst, `{"csb":[`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, sent, 10)
	dst = append(dst, ']')
	if pad > 0 {
		dst = append(dst, `,"pad":"`...)
		for range pad {
			dst = append(dst, 'x')
		}
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// markerSink receives the markers a frame carries (a *Receiver).
type markerSink interface {
	Deliver(seq uint64, sent, recv int64)
}

// scanMarkers passes every marker in b (one JSON list of frames, several
// Centrifugo replies, or any text holding them), received at recv, to sink
// and returns how many it found. Malformed markers are skipped.
func scanMarkers(b []byte, recv int64, sink markerSink) int {
	n := 0
	for {
		i := bytes.Index(b, markerKey)
		if i < 0 {
			return n
		}
		b = b[i+len(markerKey):]
		rest, ok := expect(b, ':')
		if ok {
			rest, ok = expect(rest, '[')
		}
		if !ok {
			continue
		}
		seq, rest, ok := parseUint(skipSpace(rest))
		if !ok {
			continue
		}
		if rest, ok = expect(rest, ','); !ok {
			continue
		}
		sent, rest, ok := parseUint(skipSpace(rest))
		if !ok {
			continue
		}
		if rest, ok = expect(rest, ']'); !ok {
			continue
		}
		sink.Deliver(seq, int64(sent), recv)
		n++
		b = rest
	}
}

// maxServerSeq returns the largest per-connection "seq" the server put in
// front of the objects of b, and false when there is none.
func maxServerSeq(b []byte) (uint64, bool) {
	var best uint64
	found := false
	for {
		i := bytes.Index(b, seqKey)
		if i < 0 {
			return best, found
		}
		b = b[i+len(seqKey):]
		rest, ok := expect(b, ':')
		if !ok {
			continue
		}
		v, rest, ok := parseUint(skipSpace(rest))
		if ok {
			best, found = max(best, v), true
		}
		b = rest
	}
}

// skipSpace drops the JSON white space at the start of b.
func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// expect skips white space and then c, and reports whether c was there.
func expect(b []byte, c byte) ([]byte, bool) {
	b = skipSpace(b)
	if len(b) == 0 || b[0] != c {
		return b, false
	}
	return b[1:], true
}

// parseUint reads a decimal number at the start of b.
func parseUint(b []byte) (v uint64, rest []byte, ok bool) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && i < 19 {
		v = v*10 + uint64(b[i]-'0')
		i++
	}
	return v, b[i:], i > 0
}
