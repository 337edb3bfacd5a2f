package httpapi

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/channelstream-go/channelstream-go/core"
)

// fuzzSeeds are bodies every decoder's corpus starts from.
var fuzzSeeds = []string{
	``, ` `, `{}`, `[]`, `null`, `5`, `"x"`, `{"a": tru}`, `{} x`, "\xef\xbb\xbf{}", `[{}]`, `[1, null, []]`,
	`{"username": "alice", "conn_id": "urn:uuid:12345678123412341234123456789ABC", "channels": ["a", "b"],
		"state_public_keys": ["k"], "fresh_user_state": {"k": 1.5}, "user_state": {"k": [1], "n": null},
		"channel_configs": {"a": {"history_size": "7", "notify_presence": "yes"}, "b": null},
		"info": {"channels": [""], "include_history": "maybe"}}`,
	`{"user": "u", "user_state": {"a": 1e400}, "state_public_keys": null}`,
	`{"conn_id": null, "channels": []}`,
	`{"c": {"history_size": -1e400, "store_frames": "T"}, "d": [], "e": {"history_size": "1_0"}}`,
	`{"info": {"channels": [], "exclude_channels": ["x"], "return_public_state": 1}}`,
	`{"conn_id": "{12345678-1234-1234-1234-123456789abc}"}`,
	`[{"user": "u", "channel": "c", "message": {"t": "hi"}, "timestamp": "2010-1-1 1:1:1.5+01:99", "x": [1]}]`,
	`[{"uuid": "12345678123412341234123456789abc", "edited": "2010-01-01T00:00Z", "pm_users": ["a"], "seq": 1}]`,
	`{"uuid": "12345678123412341234123456789abc", "message": {}, "channel": "c", "no_history": "off"}`,
	"[{\"user\": \"\xff\", \"channel\": \"c\", \"message\": {\"t\": \"\xfe\"}}]",
}

// addSeeds puts fuzzSeeds into f's corpus.
func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
}

// checkDecodeError fails t unless err is nil, a *BadRequest with a message,
// or a non-empty FieldErrors that encodes to JSON.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var br *BadRequest
	var fe FieldErrors
	switch {
	case errors.As(err, &br):
		if br.Msg == "" {
			t.Fatal("BadRequest without a message")
		}
	case errors.As(err, &fe):
		if len(fe) == 0 {
			t.Fatal("empty FieldErrors")
		}
		if _, jerr := json.Marshal(fe); jerr != nil {
			t.Fatalf("FieldErrors do not encode: %v", jerr)
		}
	default:
		t.Fatalf("error %v has type %T, want *BadRequest or FieldErrors", err, err)
	}
}

// checkCanonical fails t unless id is a canonical UUID (or "" when allowed).
func checkCanonical(t *testing.T, id string, emptyOK bool) {
	t.Helper()
	if id == "" && emptyOK {
		return
	}
	if got, ok := core.ParseUUID(id); !ok || got != id {
		t.Fatalf("id %q is not canonical", id)
	}
}

func FuzzDecodeConnect(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeConnect(body)
		checkDecodeError(t, err)
		if err == nil {
			checkCanonical(t, p.ConnID, true)
			if n := utf8.RuneCountInString(p.Username); n < 1 || n > maxUserLen {
				t.Fatalf("username %q accepted", p.Username)
			}
		}
	})
}

func FuzzDecodeSubscribe(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeSubscribe(body, "12345678123412341234123456789abc")
		checkDecodeError(t, err)
		if err == nil {
			checkCanonical(t, p.ConnID, false)
			if len(p.Channels) == 0 {
				t.Fatal("no channels accepted")
			}
		}
	})
}

func FuzzDecodeUnsubscribe(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeUnsubscribe(body, "")
		checkDecodeError(t, err)
		if err == nil {
			checkCanonical(t, p.ConnID, false)
		}
	})
}

func FuzzDecodeUserState(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeUserState(body)
		checkDecodeError(t, err)
		if err == nil && (p.State == nil || p.User == "") {
			t.Fatalf("accepted %#v", p)
		}
	})
}

func FuzzDecodeChannelConfig(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		cfgs, err := decodeChannelConfig(body)
		checkDecodeError(t, err)
		for name, c := range cfgs {
			if c.HistorySize < 0 {
				t.Fatalf("channel %q: negative history_size accepted", name)
			}
		}
	})
}

func FuzzDecodeInfo(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := decodeInfo(body)
		checkDecodeError(t, err)
	})
}

func FuzzDecodeDisconnect(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := decodeDisconnect(body)
		checkDecodeError(t, err)
		if err == nil {
			checkCanonical(t, id, false)
		}
	})
}

func FuzzDecodeMessages(f *testing.F) {
	for _, s := range fuzzSeeds {
		for kind := range 3 {
			f.Add([]byte(s), uint8(kind))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, k uint8) {
		kind := core.MessageKind(k % 3)
		msgs, echo, err := decodeMessages(body, kind, testNow)
		checkDecodeError(t, err)
		if err != nil {
			return
		}
		if len(msgs) != len(echo) {
			t.Fatalf("%d messages but %d echoes", len(msgs), len(echo))
		}
		for i, m := range msgs {
			checkCanonical(t, m.UUID, false)
			if m.Kind != kind {
				t.Fatalf("message %d has kind %d, want %d", i, m.Kind, kind)
			}
			if !json.Valid(echo[i]) || !utf8.Valid(echo[i]) {
				t.Fatalf("echo %d is not valid UTF-8 JSON: %q", i, echo[i])
			}
			for key, v := range m.Fields {
				if !json.Valid(v) || !utf8.Valid(v) {
					t.Fatalf("message %d field %q is not valid UTF-8 JSON: %q", i, key, v)
				}
				if key == "uuid" || key == "channel" || key == "type" || key == "catchup" || key == "seq" {
					t.Fatalf("message %d carries hub key %q in Fields", i, key)
				}
			}
		}
	})
}

func FuzzParseConnID(f *testing.F) {
	for _, s := range []string{"", "12345678-1234-1234-1234-123456789abc", "{12345678123412341234123456789ABC}",
		"urn:uuid:12345678123412341234123456789abc", "urn:urn:uuid:-{-1234}", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseConnID(s)
		if !ok {
			return
		}
		if again, ok2 := parseConnID(id); !ok2 || again != id || len(id) != 36 {
			t.Fatalf("parseConnID(%q) = %q, which is not canonical", s, id)
		}
	})
}
