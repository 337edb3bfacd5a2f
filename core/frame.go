package core

import (
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
)

// Frame is one payload routed to connections, encoded once and shared by
// every queue that holds it.
//
// Its body is a JSON object without the per-delivery keys "seq" and
// "catchup"; those are spliced in front when a transport writes it. The body
// of a message frame can be replaced by an edit while copies still wait in
// queues, so that a client attaching later sees the edited content.
type Frame struct {
	body atomic.Pointer[[]byte]
	// born is when the frame was encoded, in nanoseconds since its hub
	// started (Hub.since); written once before the frame is shared, read
	// by Session.Next for the publish→write latency.
	born int64
	// liveCatchup is true for kinds that carry "catchup": false when live
	// (message, presence, user_state_change); edits and deletes carry the
	// key only when replayed.
	liveCatchup bool
	// msg is the message a "message" frame carries (nil for other kinds);
	// edits replace it under editMu.
	msg    atomic.Pointer[Message]
	editMu sync.Mutex
	// pos is, in data-plane mode, the position of the DataPlane entry the
	// frame came from (Epoch 0: none, a gap frame), for Session.Cursor.
	pos Pos
}

func newFrame(body []byte, liveCatchup bool, born int64) *Frame {
	f := &Frame{liveCatchup: liveCatchup, born: born}
	f.body.Store(&body)
	return f
}

// Body returns the frame's current JSON object (without seq and catchup).
func (f *Frame) Body() []byte { return *f.body.Load() }

func (f *Frame) setBody(b []byte) { f.body.Store(&b) }

// appendDelivery appends the frame as delivered to one connection: seq and
// catchup spliced in front of the shared body.
func (f *Frame) appendDelivery(dst []byte, seq uint64, catchup bool) []byte {
	body := f.Body()
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	switch {
	case catchup:
		dst = append(dst, `,"catchup":true`...)
	case f.liveCatchup:
		dst = append(dst, `,"catchup":false`...)
	}
	if len(body) > 2 {
		dst = append(dst, ',')
	}
	return append(dst, body[1:]...)
}

// appendObject encodes fields as one JSON object with sorted keys. Values are
// already JSON; keys are escaped.
func appendObject(dst []byte, fields map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		v := fields[k]
		if len(v) == 0 {
			v = jsonNull
		}
		dst = append(dst, v...)
	}
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	// Printable ASCII that needs no escaping: no allocation.
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

var jsonNull = json.RawMessage("null")

func rawString(s string) json.RawMessage { return appendJSONString(nil, s) }

func rawChannel(name string) json.RawMessage {
	if name == "" {
		return jsonNull
	}
	return rawString(name)
}

func rawStrings(list []string) json.RawMessage {
	if list == nil {
		list = []string{}
	}
	b, _ := json.Marshal(list)
	return b
}

// messageTypes are the "type" values of the three message kinds.
var messageTypes = [...]string{KindSend: "message", KindEdit: "message:edit", KindDelete: "message:delete"}

// payload returns the object a client receives for m (without seq/catchup).
// The keys the hub splices in per delivery are never taken from Fields: a
// client-supplied "seq" or "catchup" would otherwise appear twice.
func (m *Message) payload() []byte {
	fields := make(map[string]json.RawMessage, len(m.Fields)+3)
	for k, v := range m.Fields {
		if k == "seq" || k == "catchup" {
			continue
		}
		fields[k] = v
	}
	fields["uuid"] = rawString(m.UUID)
	fields["channel"] = rawChannel(m.Channel)
	fields["type"] = rawString(messageTypes[m.Kind])
	// Size the buffer once, whatever the body size: quotes, colon and
	// comma around each key, plus a little for escaping.
	size := 2
	for k, v := range fields {
		size += len(k) + len(v) + 4
	}
	return appendObject(make([]byte, 0, size+16), fields)
}

// historyEntry returns the object /info shows for a stored message: the
// internal form with the routing keys, as upstream does.
func (m *Message) historyEntry() json.RawMessage {
	return appendObject(nil, m.historyFields())
}

// historyFields are the fields of historyEntry, each already JSON.
func (m *Message) historyFields() map[string]json.RawMessage {
	fields := make(map[string]json.RawMessage, len(m.Fields)+8)
	for k, v := range m.Fields {
		fields[k] = v
	}
	fields["uuid"] = rawString(m.UUID)
	fields["channel"] = rawChannel(m.Channel)
	fields["type"] = rawString(messageTypes[m.Kind])
	fields["catchup"] = json.RawMessage("false")
	fields["pm_users"] = rawStrings(m.PMUsers)
	fields["exclude_users"] = rawStrings(m.ExcludeUsers)
	fields["no_history"] = json.RawMessage(strconv.FormatBool(m.NoHistory))
	return fields
}

// clone returns a copy of m that shares no memory with it: the hub keeps
// messages in history and frames long after Publish returned, and the
// caller may reuse its buffers. The field values share one allocation.
func (m *Message) clone() *Message {
	out := *m
	out.PMUsers = slices.Clone(m.PMUsers)
	out.ExcludeUsers = slices.Clone(m.ExcludeUsers)
	if m.Fields != nil {
		n := 0
		for _, v := range m.Fields {
			n += len(v)
		}
		buf := make([]byte, 0, n)
		out.Fields = make(map[string]json.RawMessage, len(m.Fields))
		for k, v := range m.Fields {
			start := len(buf)
			buf = append(buf, v...)
			out.Fields[k] = buf[start:len(buf):len(buf)]
		}
	}
	return &out
}

// editableKeys are the keys an edit overwrites in a stored message.
var editableKeys = []string{"timestamp", "user", "message", "edited"}

// applyEdit returns a copy of m with the editable keys that e carries.
func (m *Message) applyEdit(e *Message) *Message {
	out := *m
	out.Fields = make(map[string]json.RawMessage, len(m.Fields)+1)
	for k, v := range m.Fields {
		out.Fields[k] = v
	}
	for _, k := range editableKeys {
		if v, ok := e.Fields[k]; ok {
			out.Fields[k] = v
		}
	}
	return &out
}

// newMessageFrame encodes m once for every receiver; born is Hub.since of
// the publish time.
func newMessageFrame(m *Message, born int64) *Frame {
	f := newFrame(m.payload(), m.Kind == KindSend, born)
	if m.Kind == KindSend {
		f.msg.Store(m)
	}
	return f
}

// newObjectFrame encodes a hub-made payload (presence, state change);
// born is Hub.since of the event time.
func newObjectFrame(v any, born int64) *Frame {
	b, err := json.Marshal(v)
	if err != nil {
		// Hub-made payloads hold only strings, json.Number, bools and nil.
		panic("core: encode frame: " + err.Error())
	}
	return newFrame(b, true, born)
}

// appendGap appends the object that tells a resuming client which seqs
// were lost.
func appendGap(dst []byte, from, to uint64) []byte {
	dst = append(dst, `{"type":"gap","from_seq":`...)
	dst = strconv.AppendUint(dst, from, 10)
	dst = append(dst, `,"to_seq":`...)
	dst = strconv.AppendUint(dst, to, 10)
	return append(dst, '}')
}

// message returns the message a "message" frame carries, or nil.
func (f *Frame) message() *Message { return f.msg.Load() }

// edit replaces the frame's message with the edited copy and re-encodes
// it, so that copies still waiting in queues show the edit.
func (f *Frame) edit(e *Message) {
	f.editMu.Lock()
	defer f.editMu.Unlock()
	m := f.msg.Load().applyEdit(e)
	f.msg.Store(m)
	f.setBody(m.payload())
}
