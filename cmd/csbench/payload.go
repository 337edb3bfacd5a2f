package main

import (
	"bytes"
	"strconv"
)

// A benchmark message carries {"csb":[seq,sent]} as its "message": seq
// numbers the publishes of a run from 0 and sent is the scheduled send time
// in unix nanoseconds. The server passes the object through verbatim
// (compacted), so subscribers find it with a byte search instead of a JSON
// decode, which keeps the load generator cheap at 10⁵ deliveries/s.
var (
	markerKey = []byte(`"csb":[`)
	seqKey    = []byte(`{"seq":`)
)

// appendMarker appends the message object for seq, scheduled at sent.
func appendMarker(dst []byte, seq uint64, sent int64) []byte {
	dst = append(dst, `{"csb":[`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, sent, 10)
	return append(dst, "]}"...)
}

// markerSink receives the markers a frame carries (a *Receiver).
type markerSink interface {
	Deliver(seq uint64, sent, recv int64)
}

// scanMarkers passes every marker in b (one JSON list of frames, or any
// text holding them), received at recv, to sink and returns how many it
// found. Malformed markers are skipped.
func scanMarkers(b []byte, recv int64, sink markerSink) int {
	n := 0
	for {
		i := bytes.Index(b, markerKey)
		if i < 0 {
			return n
		}
		b = b[i+len(markerKey):]
		seq, rest, ok := parseUint(b)
		if !ok || len(rest) == 0 || rest[0] != ',' {
			continue
		}
		sent, rest, ok := parseUint(rest[1:])
		if !ok || len(rest) == 0 || rest[0] != ']' {
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
		v, rest, ok := parseUint(b)
		if ok {
			best, found = max(best, v), true
		}
		b = rest
	}
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
