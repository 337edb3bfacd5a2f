package websocket

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// clientFrame is one masked client frame of opcode op with a payload of n
// bytes, with the 16- or 64-bit length forms when wide asks for them.
func clientFrame(r *rand.Rand, op byte, n int, wide bool) []byte {
	b := []byte{finBit | op}
	switch {
	case wide && n <= 0xffff && r.IntN(2) == 0:
		b = append(b, maskBit|len16)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	case wide || n > 0xffff:
		b = append(b, maskBit|len64)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	case n >= len16:
		b = append(b, maskBit|len16)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, maskBit|byte(n))
	}
	b = append(b, 1, 2, 3, 4) // mask
	for range n {
		b = append(b, byte(r.IntN(256)))
	}
	return b
}

// TestPongScanTakesOutWholePongsOnly cuts streams of client frames (pongs,
// pongs whose bytes look like frames, data frames whose payload looks like
// pongs, pings, wide lengths) at random places and checks that strip
// passes on exactly the stream minus some of its pongs, and takes out
// every pong that lies whole in one read.
func TestPongScanTakesOutWholePongsOnly(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pong := clientFrame(r, opPong, 0, false)
	for range 2000 {
		var frames [][]byte
		for range 1 + r.IntN(12) {
			switch r.IntN(5) {
			case 0, 1:
				frames = append(frames, clientFrame(r, opPong, r.IntN(126), false))
			case 2: // a text frame whose payload is pongs
				payload := bytes.Repeat(pong, 1+r.IntN(40))
				f := clientFrame(r, opText, len(payload), r.IntN(3) == 0)
				copy(f[len(f)-len(payload):], payload)
				frames = append(frames, f)
			case 3:
				frames = append(frames, clientFrame(r, opPing, r.IntN(10), false))
			default:
				frames = append(frames, clientFrame(r, 0x2, r.IntN(300), r.IntN(2) == 0))
			}
		}
		stream := bytes.Join(frames, nil)
		// Cut the stream into reads.
		var f pongScan
		var got []byte
		var cuts []int
		for at := 0; at < len(stream); {
			k := min(len(stream)-at, 1+r.IntN(80))
			cuts = append(cuts, at+k)
			chunk := append([]byte(nil), stream[at:at+k]...)
			n, _ := f.strip(chunk)
			got = append(got, chunk[:n]...)
			at += k
		}
		// Expected: the frames, less each pong that lies whole between two
		// cuts.
		var want []byte
		start, c := 0, 0
		for _, fr := range frames {
			end := start + len(fr)
			for c < len(cuts) && cuts[c] <= start {
				c++
			}
			chunkStart := 0
			if c > 0 {
				chunkStart = cuts[c-1]
			}
			whole := c < len(cuts) && chunkStart <= start && end <= cuts[c]
			if !(fr[0] == finBit|opPong && whole) {
				want = append(want, fr...)
			}
			start = end
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("strip passed on %d bytes, want %d (frames %d, cuts %v)", len(got), len(want), len(frames), cuts)
		}
		if f.hdrN != 0 || f.left != 0 {
			t.Fatalf("scan ended inside a frame: hdrN %d left %d", f.hdrN, f.left)
		}
	}
}

// TestPongNeverMovesHeardBackwards checks that a pong taken out of the
// stream counts as heard at the last ping's time only when that is later
// than what was heard before: a data frame heard after the ping, or an
// unsolicited pong, must not make the client look silent for longer.
func TestPongNeverMovesHeardBackwards(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var heard atomic.Int64
	s := &sockConn{heard: &heard}
	read := func() {
		s.p = append(s.p[:0], clientFrame(r, opPong, 4, false)...)
		if n := s.pongs(len(s.p)); n != 0 {
			t.Fatalf("a lone pong left %d bytes for gorilla", n)
		}
	}
	s.pinged.Store(100)
	heard.Store(50)
	read()
	if got := heard.Load(); got != 100 {
		t.Fatalf("heard after a pong = %d, want the ping's time 100", got)
	}
	heard.Store(200) // a data frame heard after the ping
	read()
	if got := heard.Load(); got != 200 {
		t.Fatalf("heard after a later pong = %d, want 200 kept", got)
	}
}
