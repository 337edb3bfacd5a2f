package websocket

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
	"unicode/utf8"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/core"
)

// Settings of FuzzClientFrames.
const (
	// fuzzReadLimit is the handler's MaxMessageSize: small, so that the
	// fuzzer reaches the 1009 path often.
	fuzzReadLimit = 512
	// fuzzChannel is the channel of the fuzzing connection.
	fuzzChannel = "fuzz"
	// execTimeout bounds one execution; an execution that takes longer is
	// a server that stopped answering.
	execTimeout = 10 * time.Second
	// closeAbrupt is what gorilla reports when the peer ends the connection
	// without a close frame.
	closeAbrupt = gws.CloseAbnormalClosure
)

// Modes of FuzzClientFrames: how the fuzzed bytes reach the server.
const (
	modeText   = iota // one text message, framed by gorilla's client
	modeBinary        // one binary message, framed by gorilla's client
	modeWire          // raw frames, see planWire
	numModes
)

// FuzzClientFrames sends arbitrary client frames to a real handler (a real
// hub, net/http and gorilla over an in-memory net.Pipe, reused across
// executions) and checks what the server does with them:
//
//   - a message within MaxMessageSize, whatever its content, is discarded
//     and the socket stays usable: a ping sent after it is answered (the
//     reader took everything before it) and a message published then is
//     delivered (the writer works);
//   - a larger message is answered with close code 1009;
//   - in wire mode, where the fuzzer writes the frames' bytes itself, a
//     frame RFC 6455 forbids is answered with 1002, a client close frame is
//     echoed with its code (1005 when it has none), and a length of 2^63 or
//     more ends the connection without a close frame (gorilla's behaviour);
//     which of these happens is predicted by planWire, from the RFC alone.
//
// The server must never panic, hang or close with another code. Seeds are
// in testdata/fuzz/FuzzClientFrames.
func FuzzClientFrames(f *testing.F) {
	l := newPipeListener()
	e := newEnv(f, core.Config{ConnTimeout: time.Hour}, Config{
		HeartbeatInterval: time.Hour, // no heartbeat or ping between executions
		MaxMessageSize:    fuzzReadLimit,
	}, onPipe(l))
	fc := &fuzzClient{e: e, dialer: l.dialer()}
	f.Cleanup(fc.drop) // runs before newEnv's check that every socket ended
	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		fc.run(t, mode%numModes, data)
	})
}

// fuzzClient is FuzzClientFrames's client socket, reused until the server
// closes it (or it is left inside a fragmented message).
type fuzzClient struct {
	e      *testEnv
	dialer *gws.Dialer
	c      *gws.Conn // nil when no socket is open
	connID string
}

// run is one execution.
func (fc *fuzzClient) run(t *testing.T, mode uint8, data []byte) {
	if err := fc.open(); err != nil {
		t.Fatal(err)
	}
	plan := wirePlan{}
	switch {
	case mode == modeWire:
		plan = planWire(data, fuzzReadLimit)
	case len(data) > fuzzReadLimit:
		plan.close = gws.CloseMessageTooBig
	}
	token := core.NewUUID() // the payload of the ping that follows the frames
	c := fc.c
	written := make(chan error, 1)
	go func() {
		var err error
		switch mode {
		case modeText:
			err = c.WriteMessage(gws.TextMessage, data)
		case modeBinary:
			err = c.WriteMessage(gws.BinaryMessage, data)
		case modeWire:
			_, err = c.NetConn().Write(plan.wire)
		}
		if err == nil && plan.close == 0 {
			err = c.WriteControl(gws.PingMessage, []byte(token), time.Now().Add(execTimeout))
		}
		written <- err
	}()
	err := fc.expect(plan.close, token)
	if err != nil || plan.close != 0 || plan.midMessage {
		fc.drop() // also ends a write the server stopped reading
	}
	werr := <-written
	if err != nil {
		t.Fatalf("mode %d, %d bytes %q: %v", mode, len(data), trim(data), err)
	}
	if werr != nil && plan.close == 0 {
		t.Fatalf("mode %d, %d bytes %q: writing: %v", mode, len(data), trim(data), werr)
	}
}

// expect reads the server's frames until the outcome is known: the close
// frame with code wantClose, or, when wantClose is 0, the pong for token
// and then the message published on it.
func (fc *fuzzClient) expect(wantClose int, token string) error {
	c, text, synced := fc.c, "after "+token, false
	_ = c.SetReadDeadline(time.Now().Add(execTimeout))
	c.SetPongHandler(func(payload string) error {
		if payload == token && !synced {
			synced = true
			// The reader took every frame before the ping: now the writer
			// must deliver.
			fc.e.publish(fuzzChannel, text)
		}
		return nil
	})
	for {
		_, msg, err := c.ReadMessage()
		var ce *gws.CloseError
		switch {
		case err == nil:
		case !errors.As(err, &ce):
			return fmt.Errorf("socket ended with %v, want close code %d", err, wantClose)
		case ce.Code != wantClose || wantClose == 0:
			return fmt.Errorf("socket closed with %d %q, want %d (0: stays open)", ce.Code, ce.Text, wantClose)
		default:
			return nil
		}
		var list []frame
		if err := json.Unmarshal(msg, &list); err != nil {
			return fmt.Errorf("server frame %q: %v", msg, err)
		}
		switch {
		case len(list) == 0: // a heartbeat
		case len(list) != 1 || list[0].Message != text || !synced:
			return fmt.Errorf("unexpected server frame %q", msg)
		default:
			return nil
		}
	}
}

// open dials a socket for a new connection unless one is open. The previous
// socket must have ended on the server too.
func (fc *fuzzClient) open() error {
	if fc.c != nil {
		return nil
	}
	for deadline := time.Now().Add(execTimeout); fc.e.h.Open() != 0; time.Sleep(50 * time.Microsecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d sockets still open on the server after their client left", fc.e.h.Open())
		}
	}
	res, err := fc.e.hub.Connect(context.Background(), core.ConnectParams{
		Username: "fuzzer", Channels: []string{fuzzChannel}, Info: core.DefaultInfoOptions(),
	})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	c, _, err := fc.dialer.Dial(fc.e.ws+"?conn_id="+res.ConnID, nil)
	if err != nil {
		fc.e.hub.Disconnect(context.Background(), res.ConnID)
		return fmt.Errorf("dial: %w", err)
	}
	// expect reads the close code itself; the server does not wait for an
	// answer.
	c.SetCloseHandler(func(int, string) error { return nil })
	fc.c, fc.connID = c, res.ConnID
	return nil
}

// drop closes the socket and forgets its connection.
func (fc *fuzzClient) drop() {
	if fc.c == nil {
		return
	}
	_ = fc.c.Close()
	fc.e.hub.Disconnect(context.Background(), fc.connID)
	fc.c, fc.connID = nil, ""
}

// wirePlan is what the server must do with raw client frames.
type wirePlan struct {
	wire       []byte // the bytes to send: whole frames, up to where the server stops reading
	close      int    // the close code the client must read; 0: the socket stays open
	midMessage bool   // the last data frame had no FIN: a message is still open
}

// planWire turns fuzz data into client frames and predicts, from RFC 6455
// and the read limit alone, how the server answers them. Each frame's header
// (FIN, RSV1-3, opcode, MASK, length, extended length, masking key) is read
// from data as it would be on the wire, a missing byte being 0; its payload
// is the next length bytes, padded with zeros, so that every frame is
// complete. Bytes after the frame the server ends the socket on are not
// sent, nor is the payload the server does not read (that of an oversized
// frame).
func planWire(data []byte, limit int64) wirePlan {
	var p wirePlan
	take := func(n int) []byte {
		b := make([]byte, n)
		copy(b, data)
		data = data[min(n, len(data)):]
		p.wire = append(p.wire, b...)
		return b
	}
	inMessage, msgLen := false, int64(0)
	for len(data) > 0 {
		h := take(2)
		fin, rsv, op := h[0]&0x80 != 0, h[0]&0x70, h[0]&0x0f
		masked, n := h[1]&0x80 != 0, uint64(h[1]&0x7f)
		bad := rsv != 0 || !masked // no extension is negotiated; clients mask (§5.1)
		switch op {
		case 0x0: // continuation
			bad = bad || !inMessage
		case 0x1, 0x2: // text, binary
			bad = bad || inMessage
		case 0x8, 0x9, 0xA: // close, ping, pong (§5.5)
			bad = bad || !fin || n > 125
		default: // reserved
			bad = true
		}
		if bad {
			p.close = gws.CloseProtocolError
			return p
		}
		switch n {
		case 126:
			n = uint64(binary.BigEndian.Uint16(take(2)))
		case 127:
			n = binary.BigEndian.Uint64(take(8))
		}
		if n > math.MaxInt64 { // the most significant bit must be 0 (§5.2)
			p.close = closeAbrupt
			return p
		}
		key := take(4)
		if op < 0x8 {
			if op != 0x0 {
				msgLen = 0
			}
			if int64(n) > math.MaxInt64-msgLen {
				p.close = closeAbrupt
				return p
			}
			if msgLen += int64(n); msgLen > limit {
				p.close = gws.CloseMessageTooBig
				return p
			}
			inMessage = !fin
			take(int(n))
			continue
		}
		payload := take(int(n))
		if op != 0x8 {
			continue // a ping is answered with a pong, a pong is ignored
		}
		for i := range payload {
			payload[i] ^= key[i%4]
		}
		switch {
		case len(payload) < 2:
			p.close = gws.CloseNoStatusReceived
		case !validCloseCode(int(binary.BigEndian.Uint16(payload))) || !utf8.Valid(payload[2:]):
			p.close = gws.CloseProtocolError
		default:
			p.close = int(binary.BigEndian.Uint16(payload)) // echoed (§5.5.1)
		}
		return p
	}
	p.midMessage = inMessage
	return p
}

// validCloseCode reports whether code may be sent in a close frame: the
// codes RFC 6455 §7.4.1 and the IANA registry define for endpoints to send,
// and the 3000-4999 ranges for libraries and applications.
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}

// trim shortens data for a failure message.
func trim(data []byte) []byte {
	if len(data) > 64 {
		return data[:64]
	}
	return data
}
