package websocket

// Client frames carry a mask, so a pong frame from a client is at least 6
// bytes: the two header bytes, the 4-byte mask, then the payload.
const (
	opPong        = 0xA
	maskBit       = 0x80
	maxClientHead = 14 // 2 + 8 (64-bit length) + 4 (mask)
)

// pongScan follows the frame boundaries of a client's byte stream, which
// sockConn reads for gorilla, so that it can take out the pongs that
// answer the heartbeat pings before gorilla sees them. An idle socket's
// only traffic is one pong per heartbeat; consumed here, it neither wakes
// gorilla's frame parser nor costs the read(2) that finds the socket empty
// again before the reader parks (see sockConn.readSome).
//
// Only a well-formed pong (FIN, no reserved bits, masked, payload of at
// most 125 bytes) that lies whole in one read is taken out; every other
// byte goes on to gorilla in order, so that the stream it sees is the
// client's minus whole control frames, which is still a valid stream:
// control frames may come between any two frames. Lengths are all that is
// parsed; gorilla still judges everything it gets (and answers a pong split
// over two reads itself, through the pong handler).
type pongScan struct {
	hdr  [maxClientHead]byte // the header read so far, while hdrN > 0
	hdrN int
	left uint64 // payload bytes of the current frame still to pass on
}

// strip takes the whole pongs out of b, the bytes just read (the stream's
// next bytes), moving what remains to the front. It returns how many bytes
// remain and whether it took out a pong.
func (f *pongScan) strip(b []byte) (n int, pong bool) {
	w, i := 0, 0
	for i < len(b) {
		if f.left > 0 { // inside a frame's payload: pass it on
			k := int(min(uint64(len(b)-i), f.left))
			copy(b[w:], b[i:i+k])
			w, i, f.left = w+k, i+k, f.left-uint64(k)
			continue
		}
		if f.hdrN == 0 {
			if k := wholePong(b[i:]); k > 0 {
				i += k
				pong = true
				continue
			}
		}
		// A header byte: pass it on, and once the header is whole, follow
		// its payload.
		f.hdr[f.hdrN] = b[i]
		f.hdrN++
		b[w] = b[i]
		w, i = w+1, i+1
		if h := f.hdr[:f.hdrN]; len(h) == clientHeadLen(h) {
			f.left = payloadLen(h)
			f.hdrN = 0
		}
	}
	return w, pong
}

// wholePong is the length of the well-formed client pong at the start of
// b, or 0 when b does not start with a whole one.
func wholePong(b []byte) int {
	if len(b) < 6 || b[0] != finBit|opPong || b[1]&maskBit == 0 {
		return 0
	}
	n := 6 + int(b[1]&^maskBit)
	if b[1]&^maskBit > 125 || len(b) < n {
		return 0
	}
	return n
}

// clientHeadLen is the length of the frame header that h (at least its
// first byte) begins: 2, 4 or 10 bytes, plus 4 when masked. Before the
// second byte is known it reports 2.
func clientHeadLen(h []byte) int {
	if len(h) < 2 {
		return 2
	}
	n := 2
	switch h[1] &^ maskBit {
	case len16:
		n += 2
	case len64:
		n += 8
	}
	if h[1]&maskBit != 0 {
		n += 4
	}
	return n
}

// payloadLen is the payload length of the whole header h.
func payloadLen(h []byte) uint64 {
	switch l := h[1] &^ maskBit; l {
	case len16:
		return uint64(h[2])<<8 | uint64(h[3])
	case len64:
		var n uint64
		for _, c := range h[2:10] {
			n = n<<8 | uint64(c)
		}
		return n
	default:
		return uint64(l)
	}
}
