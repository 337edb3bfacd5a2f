package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// subscriber is one browser-like client of a transport, attached to one
// connection of a node. The three implementations (wsSubscriber,
// sseSubscriber, pollSubscriber) use real clients: gorilla/websocket's
// Dialer, r3labs/sse/v2's Client and net/http polling /listen.
type subscriber interface {
	// Next returns the next batch the transport delivered: the frames of
	// one WebSocket message, SSE event or poll answer, in order. An empty
	// batch is a heartbeat (WebSocket "[]", SSE ": hb" comment, empty poll
	// answer). When the server ended the transport, Next returns an
	// *endedError; when nothing came within timeout, errNoBatch.
	Next(timeout time.Duration) ([]wireFrame, error)
	// LastSeq is the highest seq received so far (a gap's to_seq counts).
	LastSeq() uint64
	// Drop cuts the network path without a goodbye (the TCP connection is
	// closed under the client) and keeps the client from reconnecting
	// until Resume.
	Drop()
	// Resume reconnects, resuming after LastSeq: last_seq= on /ws and
	// /listen; on SSE the r3labs client sends Last-Event-ID by itself.
	Resume() error
	// Close leaves for good, politely where the transport has a way to
	// (WebSocket close frame), and releases every client resource. It may
	// be called more than once.
	Close()
}

// errNoBatch is what Next returns when nothing arrived within its timeout.
var errNoBatch = errors.New("no batch within the timeout")

// endedError says how the server ended a transport.
type endedError struct {
	// Code is the WebSocket close code, or the HTTP status of the refused
	// poll or stream; 0 when the stream just ended.
	Code int
	// Text is the WebSocket close reason.
	Text string
	// EOF is true when an SSE stream ended cleanly.
	EOF bool
	// Err is a transport error that ended the client, if any.
	Err error
}

func (e *endedError) Error() string {
	switch {
	case e.Err != nil:
		return "transport failed: " + e.Err.Error()
	case e.EOF:
		return "stream ended"
	default:
		return fmt.Sprintf("ended with code %d %q", e.Code, e.Text)
	}
}

// wireFrame is one object of a delivered JSON list.
type wireFrame map[string]any

// Type is the frame's "type".
func (f wireFrame) Type() string { s, _ := f["type"].(string); return s }

// Seq is the frame's per-connection "seq" (0 for a gap object).
func (f wireFrame) Seq() uint64 { return f.uint("seq") }

func (f wireFrame) uint(key string) uint64 {
	n, _ := f[key].(float64)
	return uint64(n)
}

// Str is the string under key ("" when absent or not a string).
func (f wireFrame) Str(key string) string { s, _ := f[key].(string); return s }

// Obj is the object under key (nil when absent or not an object).
func (f wireFrame) Obj(key string) map[string]any { m, _ := f[key].(map[string]any); return m }

// Text is message.text, the payload most scenarios publish.
func (f wireFrame) Text() string { s, _ := f.Obj("message")["text"].(string); return s }

func (f wireFrame) String() string { b, _ := json.Marshal(f); return string(b) }

// decodeBatch parses one delivered JSON list.
func decodeBatch(data []byte) ([]wireFrame, error) {
	var frames []wireFrame
	if err := json.Unmarshal(data, &frames); err != nil {
		return nil, fmt.Errorf("a batch must be a JSON list of objects: %q: %w", data, err)
	}
	if frames == nil {
		return nil, fmt.Errorf("a batch must be a JSON list of objects: %q", data)
	}
	return frames, nil
}

// inbox is what a subscriber's reader goroutine hands to Next: batches in
// arrival order, then at most one end. It also keeps the resume position:
// the last seq, and the resume cursor when the node gives one (the
// "cursor" key of the last object of a WebSocket or long-poll list, the
// id of an SSE event), which any node of a cluster can resume from.
type inbox struct {
	mu      sync.Mutex
	batches [][]wireFrame
	end     error
	lastSeq uint64
	resume  string        // the last resume cursor received; "" when none
	wake    chan struct{} // buffered 1
}

func newInbox() *inbox { return &inbox{wake: make(chan struct{}, 1)} }

// push queues a batch and advances the cursor past its frames.
func (in *inbox) push(frames []wireFrame) {
	in.pushEvent(frames, "")
}

// pushEvent is push for an SSE event with its id: an id that is not a
// plain seq is the resume cursor.
func (in *inbox) pushEvent(frames []wireFrame, id string) {
	in.mu.Lock()
	for _, f := range frames {
		last := f.Seq()
		if f.Type() == "gap" {
			last = f.uint("to_seq")
		}
		in.lastSeq = max(in.lastSeq, last)
	}
	if n := len(frames); n > 0 && frames[n-1].Str("cursor") != "" {
		in.resume = frames[n-1].Str("cursor")
	}
	if _, err := strconv.ParseUint(id, 10, 64); id != "" && err != nil {
		in.resume = id
	}
	in.batches = append(in.batches, frames)
	in.mu.Unlock()
	in.signal()
}

// resumeCursor is the last resume cursor received ("" when none).
func (in *inbox) resumeCursor() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.resume
}

// resumeQuery is the query that resumes /ws or /listen after what the
// inbox holds: "&cursor=<cursor>" once the node gave one (it carries the
// seq), else "&last_seq=<seq>".
func (in *inbox) resumeQuery() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.resume != "" {
		return "&cursor=" + url.QueryEscape(in.resume)
	}
	return "&last_seq=" + strconv.FormatUint(in.lastSeq, 10)
}

// lastEventID is the Last-Event-ID that resumes /sse after what the inbox
// holds: the resume cursor once the node gave one, else the last seq.
func (in *inbox) lastEventID() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.resume != "" {
		return in.resume
	}
	return strconv.FormatUint(in.lastSeq, 10)
}

// finish records how the transport ended; only the first end counts.
func (in *inbox) finish(err error) {
	in.mu.Lock()
	if in.end == nil {
		in.end = err
	}
	in.mu.Unlock()
	in.signal()
}

func (in *inbox) signal() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

func (in *inbox) cursor() uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.lastSeq
}

// next waits up to timeout for a batch; queued batches come before the end.
func (in *inbox) next(timeout time.Duration) ([]wireFrame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		in.mu.Lock()
		if len(in.batches) > 0 {
			b := in.batches[0]
			in.batches[0] = nil
			in.batches = in.batches[1:]
			in.mu.Unlock()
			return b, nil
		}
		end := in.end
		in.mu.Unlock()
		if end != nil {
			return nil, end
		}
		select {
		case <-in.wake:
		case <-t.C:
			return nil, errNoBatch
		}
	}
}

// clientTransport is one real client the scenarios run against.
type clientTransport struct {
	name string
	open func(t testing.TB, tg *testGateway, connID string) subscriber
}

// clientTransports are the three real clients the scenarios run against.
var clientTransports = []clientTransport{
	{"websocket", func(t testing.TB, tg *testGateway, id string) subscriber { return openWS(t, tg.URL, id) }},
	{"sse", func(t testing.TB, tg *testGateway, id string) subscriber { return openSSE(t, tg.URL, id) }},
	{"longpoll", func(t testing.TB, tg *testGateway, id string) subscriber { return openPoll(t, tg.URL, id, nil) }},
}
