package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/channelstream-go/channelstream-go/core"
)

// Keys of a message element that are schema fields, per kind; on send and
// edit every other key is an extra that is kept, on delete it is an error.
var (
	deliveryKeys = []string{"pm_users", "exclude_users", "channel", "no_history", "uuid"}
	payloadKeys  = []string{"timestamp", "user", "message", "edited"}
)

// hubKeys are extras the hub writes itself; a client's values for them are
// echoed but never delivered.
var hubKeys = map[string]bool{"type": true, "catchup": true, "seq": true}

// decodeMessages validates a POST (send), PATCH (edit) or DELETE /message
// body (UPSTREAM §3.6-3.8). The body is a JSON array of message objects; a
// single object is taken as a one-element list (PROTOCOL §1), and then its
// errors are not keyed by index. An empty body counts as {}.
//
// It returns the messages for the hub and the HTTP echo, one entry per
// accepted element, in body order. Send elements with neither a channel nor
// pm_users are dropped from both. now is the time of default timestamps.
func decodeMessages(body []byte, kind core.MessageKind, now time.Time) ([]core.Message, []json.RawMessage, error) {
	d, err := decodeMessageList(body, kind, now)
	return d.msgs, d.echo, err
}

// decodedMessages is a decoded /message body.
type decodedMessages struct {
	msgs []core.Message
	echo []json.RawMessage
	// index is, for each of msgs, its position in the body's list.
	index []int
	// single is true when the body was one object, not a list.
	single bool
}

// decodeMessageList is decodeMessages, also telling where each message
// was in the body.
func decodeMessageList(body []byte, kind core.MessageKind, now time.Time) (decodedMessages, error) {
	if isEmpty(body) {
		body = []byte("{}")
	}
	var raw json.RawMessage
	if err := parseBody(body, &raw); err != nil {
		return decodedMessages{}, err
	}
	var elems []json.RawMessage
	single := false
	switch firstByte(raw) {
	case '[':
		if err := json.Unmarshal(raw, &elems); err != nil {
			return decodedMessages{}, &BadRequest{Msg: "invalid JSON: " + err.Error()}
		}
	case '{':
		elems, single = []json.RawMessage{raw}, true
	default:
		return decodedMessages{}, invalidInput()
	}
	d := decodedMessages{
		msgs:   make([]core.Message, 0, len(elems)),
		echo:   make([]json.RawMessage, 0, len(elems)),
		index:  make([]int, 0, len(elems)),
		single: single,
	}
	errs := FieldErrors{}
	for i, el := range elems {
		m, e, fe := decodeMessage(el, kind, now)
		switch {
		case fe != nil && single:
			return decodedMessages{}, fe
		case fe != nil:
			errs[strconv.Itoa(i)] = fe
		case kind == core.KindSend && m.Channel == "" && len(m.PMUsers) == 0:
			// dropped silently, as upstream does
		default:
			d.msgs = append(d.msgs, m)
			d.echo = append(d.echo, e)
			d.index = append(d.index, i)
		}
	}
	if len(errs) > 0 {
		return decodedMessages{}, errs
	}
	return d, nil
}

// decodeMessage validates one element and builds its core.Message and echo.
func decodeMessage(el json.RawMessage, kind core.MessageKind, now time.Time) (core.Message, json.RawMessage, FieldErrors) {
	var raws map[string]json.RawMessage
	if firstByte(el) != '{' || json.Unmarshal(el, &raws) != nil {
		return core.Message{}, nil, invalidInput()
	}
	vals := make(map[string]any, len(raws))
	for k, r := range raws {
		vals[k] = decodeAny(r)
	}
	o := &object{m: vals, errs: FieldErrors{}}
	m := core.Message{Kind: kind, PMUsers: []string{}, ExcludeUsers: []string{}}
	take(o, "pm_users", false, false, userList, &m.PMUsers)
	take(o, "exclude_users", false, false, userList, &m.ExcludeUsers)
	take(o, "channel", false, true, channelName, &m.Channel)
	take(o, "no_history", false, false, boolean, &m.NoHistory)
	if kind == core.KindSend {
		if _, given := o.m["uuid"]; !given {
			m.UUID = newUUID()
		}
	}
	take(o, "uuid", kind != core.KindSend, false, uuidField, &m.UUID)

	if kind == core.KindDelete {
		// PROTOCOL.md §1: unknown keys are ignored here (upstream HEAD
		// answers 422 "Unknown field."), so an app may send the same
		// object to POST, PATCH and DELETE.
		if len(o.errs) > 0 {
			return core.Message{}, nil, o.errs
		}
		w := echoWriter(m)
		return m, w.close(), nil
	}

	var p payload
	p.timestamp, p.edited = naiveUTC(now), naiveUTC(now)
	p.hasTimestamp = take(o, "timestamp", false, false, datetimeField, &p.timestamp) || kind == core.KindSend
	p.hasUser = take(o, "user", kind == core.KindSend, false, userName, &p.user)
	var ignored map[string]any
	p.hasMessage = take(o, "message", false, false, mapping, &ignored)
	if kind == core.KindEdit {
		take(o, "edited", false, false, datetimeField, &p.edited)
	}
	if len(o.errs) > 0 {
		return core.Message{}, nil, o.errs
	}
	if p.hasMessage {
		p.message = passthrough(raws["message"], vals["message"])
	}
	for _, k := range sortedKeys(raws) {
		if !isOneOf(k, deliveryKeys) && !isOneOf(k, payloadKeys) {
			p.extras = append(p.extras, extra{k, passthrough(raws[k], vals[k])})
		}
	}
	m.Fields = p.fields(kind)
	return m, p.echo(m, kind), nil
}

// payload holds the client-visible keys of a send or edit element.
type payload struct {
	user                              string
	timestamp, edited                 pyTime
	message                           json.RawMessage
	hasUser, hasTimestamp, hasMessage bool
	// extras are the unknown keys in name order, kept as the client wrote them.
	extras []extra
}

// extra is one unknown key of a message element and its JSON value.
type extra struct {
	key   string
	value json.RawMessage
}

// fields is core.Message.Fields: timestamps in their client form, edited null
// on send, client values of hub keys dropped.
func (p *payload) fields(kind core.MessageKind) map[string]json.RawMessage {
	f := make(map[string]json.RawMessage, 4+len(p.extras))
	if p.hasUser {
		f["user"] = jsonValue(p.user)
	}
	if p.hasTimestamp {
		f["timestamp"] = jsonValue(p.timestamp.client())
	}
	if p.hasMessage {
		f["message"] = p.message
	}
	for _, x := range p.extras {
		if !hubKeys[x.key] {
			f[x.key] = x.value
		}
	}
	f["edited"] = json.RawMessage("null")
	if kind == core.KindEdit {
		f["edited"] = jsonValue(p.edited.client())
	}
	return f
}

// echo is the element as the HTTP response shows it (UPSTREAM §3.6, §3.7).
func (p *payload) echo(m core.Message, kind core.MessageKind) json.RawMessage {
	w := echoWriter(m)
	if p.hasTimestamp {
		w.add("timestamp", jsonValue(p.timestamp.iso()))
	}
	if p.hasUser {
		w.add("user", jsonValue(p.user))
	}
	if p.hasMessage {
		w.add("message", p.message)
	}
	for _, x := range p.extras {
		w.add(x.key, x.value)
	}
	if kind == core.KindEdit {
		w.add("edited", jsonValue(p.edited.iso()))
	} else {
		w.add("edited", json.RawMessage("null"))
	}
	return w.close()
}

// echoWriter starts an echo object with the delivery keys every kind has.
func echoWriter(m core.Message) *objectWriter {
	w := &objectWriter{}
	w.add("pm_users", jsonValue(m.PMUsers))
	w.add("exclude_users", jsonValue(m.ExcludeUsers))
	if m.Channel == "" {
		w.add("channel", json.RawMessage("null"))
	} else {
		w.add("channel", jsonValue(m.Channel))
	}
	w.add("no_history", jsonValue(m.NoHistory))
	w.add("uuid", jsonValue(m.UUID))
	return w
}

// objectWriter writes a JSON object whose keys keep the order they are added in.
type objectWriter struct{ buf bytes.Buffer }

// add appends key and its already-encoded value.
func (w *objectWriter) add(key string, value json.RawMessage) {
	if w.buf.Len() == 0 {
		w.buf.WriteByte('{')
	} else {
		w.buf.WriteByte(',')
	}
	w.buf.Write(jsonValue(key))
	w.buf.WriteByte(':')
	w.buf.Write(value)
}

// close ends the object and returns it.
func (w *objectWriter) close() json.RawMessage {
	if w.buf.Len() == 0 {
		return json.RawMessage("{}")
	}
	w.buf.WriteByte('}')
	return w.buf.Bytes()
}

// jsonValue encodes v compactly without HTML escaping. v is always encodable.
func jsonValue(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return json.RawMessage("null")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// passthrough is a client's JSON value kept as written, compacted; a value
// with invalid UTF-8 is re-encoded from its decoded form (which has U+FFFD
// in place of the bad bytes) so that frames stay valid UTF-8.
func passthrough(raw json.RawMessage, decoded any) json.RawMessage {
	var b bytes.Buffer
	if utf8.Valid(raw) && json.Compact(&b, raw) == nil {
		return b.Bytes()
	}
	return jsonValue(decoded)
}

// decodeAny decodes an already validated JSON value with json.Number numbers.
func decodeAny(raw json.RawMessage) any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	return v
}

// newUUID returns a random (version 4) UUID in canonical form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// firstByte is the first byte of a JSON value, skipping whitespace; 0 when there is none.
func firstByte(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// isOneOf reports whether s is in list.
func isOneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
