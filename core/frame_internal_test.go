package core

import (
	"encoding/json"
	"testing"
)

// appendJSONString has a fast path for plain ASCII; it must always write
// exactly what encoding/json writes.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "user", "a b", `q"uote`, `back\slash`, "<tag>&", "tab\t", "é", "\u2028", "\xff", "~\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got[1:], want)
		}
	})
}

// TestPayloadKeysEscaped checks that odd client keys stay valid JSON.
func TestPayloadKeysEscaped(t *testing.T) {
	m := &Message{UUID: "u", Channel: `c"h`, Fields: map[string]json.RawMessage{`k"<`: json.RawMessage(`1`)}}
	var out map[string]any
	if err := json.Unmarshal(m.payload(), &out); err != nil {
		t.Fatalf("payload %s: %v", m.payload(), err)
	}
	if out[`k"<`] != 1.0 || out["channel"] != `c"h` {
		t.Errorf("payload = %v", out)
	}
}
