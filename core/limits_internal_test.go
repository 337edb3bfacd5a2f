package core

import (
	"encoding/json"
	"testing"
)

// payloadSize must be exactly the length of the payload Publish encodes.
func TestPayloadSizeIsThePayloadLength(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	for name, m := range map[string]*Message{
		"plain send": {Kind: KindSend, UUID: NewUUID(), Channel: "news", Fields: map[string]json.RawMessage{
			"user": raw(`"sys"`), "message": raw(`{"text":"hi"}`), "timestamp": raw(`"2026-11-25T09:00:00"`)}},
		"global pm":          {Kind: KindSend, UUID: NewUUID(), Fields: map[string]json.RawMessage{"message": raw(`1`)}},
		"no fields":          {Kind: KindDelete, UUID: NewUUID(), Channel: "c"},
		"edit":               {Kind: KindEdit, UUID: NewUUID(), Channel: "c", Fields: map[string]json.RawMessage{"edited": raw(`null`)}},
		"escaped keys":       {Kind: KindSend, UUID: "u", Channel: `c"h<é>`, Fields: map[string]json.RawMessage{`k"<`: raw(`1`), "tab\t": raw(`true`)}},
		"hub keys replaced":  {Kind: KindSend, UUID: "u", Channel: "c", Fields: map[string]json.RawMessage{"seq": raw(`5`), "catchup": raw(`true`), "type": raw(`"x"`), "uuid": raw(`"y"`), "channel": raw(`"z"`)}},
		"empty value is nil": {Kind: KindSend, UUID: "u", Channel: "c", Fields: map[string]json.RawMessage{"extra": nil}},
	} {
		if got, want := m.payloadSize(), len(m.payload()); got != want {
			t.Errorf("%s: payloadSize = %d, len(payload) = %d (%s)", name, got, want, m.payload())
		}
	}
}
