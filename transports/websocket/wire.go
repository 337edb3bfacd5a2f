package websocket

// Server frames are written by this package, not by gorilla's writer: a
// server frame is unmasked, so its bytes are a header in front of the
// payload, which Session.Next appends right behind room kept for the
// header. A batch then leaves in one system call (writer.Conn) with no
// copy (gorilla copies every payload into its write buffer and sets a
// write deadline, a runtime timer, on every write). gorilla still reads,
// and writes the control frames its read side answers (pong, close echo,
// protocol errors) and the writer's close frames; its writes and ours are
// serialised by the socket's write lock in the net package, each a whole
// frame.

// WebSocket frame bits (RFC 6455 §5.2).
const (
	finBit     = 0x80
	opText     = 0x1
	opPing     = 0x9
	len16      = 126 // length byte: a 16-bit length follows
	len64      = 127 // length byte: a 64-bit length follows
	headerRoom = 10  // the longest header of an unmasked frame
)

// pingFrame is an empty ping; heartbeatFrames is the heartbeat: the text
// frame [] and a ping, written together.
var (
	pingFrame       = []byte{finBit | opPing, 0}
	heartbeatFrames = []byte{finBit | opText, 2, '[', ']', finBit | opPing, 0}
)

// putTextHeader writes the header of a text frame of n payload bytes at the
// end of room (len(room) >= headerRoom) and returns where it starts.
func putTextHeader(room []byte, n int) int {
	var h []byte
	switch {
	case n < len16:
		h = room[headerRoom-2 : headerRoom]
		h[1] = byte(n)
	case n <= 0xffff:
		h = room[headerRoom-4 : headerRoom]
		h[1] = len16
		h[2], h[3] = byte(n>>8), byte(n)
	default:
		h = room[:headerRoom]
		h[1] = len64
		for i := range 8 {
			h[2+i] = byte(uint64(n) >> (56 - 8*i))
		}
	}
	h[0] = finBit | opText
	return headerRoom - len(h)
}
