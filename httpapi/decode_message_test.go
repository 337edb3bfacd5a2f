package httpapi

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// testNow is the clock of every decode test; naive UTC 2026-11-25T09:23:09.022902.
var testNow = time.Date(2026, 11, 25, 9, 23, 9, 22902000, time.UTC)

const (
	testNowISO = "2026-11-25T09:23:09.022902"
	testUUID   = "12345678-1234-1234-1234-123456789abc"
)

// long257 is a 257-character string, one past the channel name limit.
var long257 = strings.Repeat("x", 257)

// jsonNumber is json.Number(s), short for state values.
func jsonNumber(s string) json.Number { return json.Number(s) }

// randomUUID matches a generated canonical version 4 UUID.
var randomUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)

// decodeOne decodes body (one accepted element expected) and returns it with
// its echo, whose generated uuid is replaced by "RANDOM".
func decodeOne(t *testing.T, body string, kind core.MessageKind) (core.Message, string) {
	t.Helper()
	msgs, echo, err := decodeMessages([]byte(body), kind, testNow)
	if err != nil {
		t.Fatalf("decodeMessages(%s) error = %v", body, err)
	}
	if len(msgs) != 1 || len(echo) != 1 {
		t.Fatalf("decodeMessages(%s) = %d messages, %d echoes; want 1", body, len(msgs), len(echo))
	}
	return msgs[0], randomUUID.ReplaceAllString(string(echo[0]), "RANDOM")
}

// fieldsJSON encodes Message.Fields for comparison.
func fieldsJSON(t *testing.T, f map[string]json.RawMessage) []byte {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatalf("Fields are not valid JSON: %v", err)
	}
	return b
}

func TestDecodeMessagesErrors(t *testing.T) {
	tests := []struct {
		name string
		kind core.MessageKind
		body string
		want string
	}{
		{"send: number body (checklist 54)", core.KindSend, `5`, `{"_schema":["Invalid input type."]}`},
		{"send: string body", core.KindSend, `"x"`, `{"_schema":["Invalid input type."]}`},
		{"send: null body", core.KindSend, `null`, `{"_schema":["Invalid input type."]}`},
		{"send: user required (checklist 55)", core.KindSend, `[{}]`, `{"0":{"user":["Missing data for required field."]}}`},
		{"send: single object errors not index-keyed", core.KindSend, `{}`, `{"user":["Missing data for required field."]}`},
		{"send: empty body is {}", core.KindSend, ``, `{"user":["Missing data for required field."]}`},
		{"send: element not an object", core.KindSend, `[1, {"user": "u", "message": "x", "timestamp": "x"}]`,
			`{"0":{"_schema":["Invalid input type."]},"1":{"timestamp":["Not a valid datetime."],"message":["Not a valid mapping type."]}}`},
		{"send: only failing elements reported", core.KindSend, `[{"user": "", "channel": "c"}, {"user": "u"}]`,
			`{"0":{"user":["Length must be between 1 and 512."]}}`},
		{"send: nulls", core.KindSend, `[{"user": "u", "channel": null, "message": null, "timestamp": null, "uuid": null, "pm_users": null, "no_history": null}]`,
			`{"0":{"uuid":["Field may not be null."],"timestamp":["Field may not be null."],"message":["Field may not be null."],"pm_users":["Field may not be null."],"no_history":["Field may not be null."]}}`},
		{"send: delivery fields", core.KindSend, `[{"user": "u", "pm_users": "a", "exclude_users": [""], "no_history": "x", "uuid": "x", "channel": ""}]`,
			`{"0":{"pm_users":["Not a valid list."],"exclude_users":{"0":["Length must be between 1 and 512."]},"channel":["Length must be between 1 and 256."],"no_history":["Not a valid boolean."],"uuid":["Not a valid UUID."]}}`},
		{"send: channel too long", core.KindSend, `[{"user": "u", "channel": "` + long257 + `"}]`,
			`{"0":{"channel":["Length must be between 1 and 256."]}}`},
		{"send: user not a string", core.KindSend, `[{"user": 1, "channel": "c"}]`, `{"0":{"user":["Not a valid string."]}}`},
		{"send: message is a list", core.KindSend, `[{"user": "u", "channel": "c", "message": []}]`,
			`{"0":{"message":["Not a valid mapping type."]}}`},
		{"send: bad timestamp", core.KindSend, `[{"user": "u", "channel": "c", "timestamp": "2010-02-30T01:01:01"}]`,
			`{"0":{"timestamp":["Not a valid datetime."]}}`},
		{"edit: uuid required (checklist 69)", core.KindEdit, `[{}]`, `{"0":{"uuid":["Missing data for required field."]}}`},
		{"edit: nulls", core.KindEdit, `[{"uuid": "` + testUUID + `", "user": null, "timestamp": null, "message": null, "edited": null}]`,
			`{"0":{"user":["Field may not be null."],"edited":["Field may not be null."],"timestamp":["Field may not be null."],"message":["Field may not be null."]}}`},
		{"edit: bad edited", core.KindEdit, `[{"uuid": "` + testUUID + `", "edited": "yesterday"}]`, `{"0":{"edited":["Not a valid datetime."]}}`},
		{"edit: object body", core.KindEdit, `{"uuid": "x"}`, `{"uuid":["Not a valid UUID."]}`},
		{"delete: uuid required, unknown keys ignored (PROTOCOL §1)", core.KindDelete, `[{"message": {}, "user": "u"}]`,
			`{"0":{"uuid":["Missing data for required field."]}}`},
		{"delete: list body element not an object", core.KindDelete, `[[]]`, `{"0":{"_schema":["Invalid input type."]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeMessages([]byte(tt.body), tt.kind, testNow)
			mustFieldErrors(t, err, tt.want)
		})
	}
}

func TestDecodeMessagesSend(t *testing.T) {
	t.Run("empty list (checklist 54)", func(t *testing.T) {
		msgs, echo, err := decodeMessages([]byte(` [ ] `), core.KindSend, testNow)
		if err != nil || len(msgs) != 0 || echo == nil || len(echo) != 0 {
			t.Fatalf("decodeMessages([]) = %v, %v, %v; want no messages and an empty echo", msgs, echo, err)
		}
	})
	t.Run("no channel and no pm_users is dropped (checklist 56)", func(t *testing.T) {
		msgs, echo, err := decodeMessages([]byte(`[{"user": "a"}, {"user": "b", "channel": null, "pm_users": []},
			{"user": "c", "channel": "ch"}]`), core.KindSend, testNow)
		if err != nil || len(msgs) != 1 || len(echo) != 1 || msgs[0].Channel != "ch" {
			t.Fatalf("decodeMessages = %+v, %s, %v; want only the message to ch", msgs, echo, err)
		}
	})
	t.Run("defaults (checklist 57)", func(t *testing.T) {
		m, echo := decodeOne(t, `[{"user": "sys", "channel": "m1", "message": {"text": "hi <b>"}}]`, core.KindSend)
		mustJSON(t, []byte(echo), `{"pm_users":[],"exclude_users":[],"channel":"m1","no_history":false,
			"uuid":"RANDOM","timestamp":"`+testNowISO+`","user":"sys","message":{"text":"hi <b>"},"edited":null}`)
		if !randomUUID.MatchString(m.UUID) || m.Kind != core.KindSend || m.Channel != "m1" ||
			m.PMUsers == nil || m.ExcludeUsers == nil || m.NoHistory {
			t.Errorf("message = %+v", m)
		}
		mustJSON(t, fieldsJSON(t, m.Fields), `{"user":"sys","timestamp":"`+testNowISO+`","message":{"text":"hi <b>"},"edited":null}`)
		if !strings.Contains(echo, `"hi <b>"`) {
			t.Errorf("echo %s escapes HTML", echo)
		}
	})
	t.Run("client uuid and zoned timestamp kept (checklist 58)", func(t *testing.T) {
		m, echo := decodeOne(t, `{"user": "u", "channel": "c", "uuid": "{12345678123412341234123456789ABC}",
			"timestamp": "2010-01-01T01:01Z", "no_history": "yes", "pm_users": ["a"], "exclude_users": ["b"]}`, core.KindSend)
		mustJSON(t, []byte(echo), `{"pm_users":["a"],"exclude_users":["b"],"channel":"c","no_history":true,
			"uuid":"`+testUUID+`","timestamp":"2010-01-01T01:01:00+00:00","user":"u","edited":null}`)
		want := core.Message{Kind: core.KindSend, UUID: testUUID, Channel: "c", PMUsers: []string{"a"},
			ExcludeUsers: []string{"b"}, NoHistory: true}
		fields := m.Fields
		m.Fields = nil
		if !reflect.DeepEqual(m, want) {
			t.Errorf("message = %#v\nwant %#v", m, want)
		}
		mustJSON(t, fieldsJSON(t, fields), `{"user":"u","timestamp":"2010-01-01T01:01:00Z","edited":null}`)
	})
	t.Run("global pm has a null channel (checklist 63)", func(t *testing.T) {
		m, echo := decodeOne(t, `[{"user": "u", "pm_users": ["a"], "timestamp": "2010-01-01 01:01:01.5+02"}]`, core.KindSend)
		mustJSON(t, []byte(echo), `{"pm_users":["a"],"exclude_users":[],"channel":null,"no_history":false,
			"uuid":"RANDOM","timestamp":"2010-01-01T01:01:01.500000+02:00","user":"u","edited":null}`)
		if m.Channel != "" {
			t.Errorf("Channel = %q, want empty", m.Channel)
		}
		mustJSON(t, fieldsJSON(t, m.Fields), `{"user":"u","timestamp":"2010-01-01T01:01:01.500000+02:00","edited":null}`)
	})
	t.Run("extra keys kept, hub keys not delivered (PROTOCOL 1)", func(t *testing.T) {
		m, echo := decodeOne(t, `[{"user": "u", "channel": "c", "extra_key": 5, "foo": {"b": [1, 2.50]},
			"type": "x", "catchup": true, "seq": 3, "edited": "2010-01-01T00:00"}]`, core.KindSend)
		mustJSON(t, []byte(echo), `{"pm_users":[],"exclude_users":[],"channel":"c","no_history":false,"uuid":"RANDOM",
			"timestamp":"`+testNowISO+`","user":"u","catchup":true,"extra_key":5,"foo":{"b":[1,2.50]},"seq":3,"type":"x","edited":null}`)
		mustJSON(t, fieldsJSON(t, m.Fields), `{"user":"u","timestamp":"`+testNowISO+`","extra_key":5,"foo":{"b":[1,2.50]},"edited":null}`)
		if string(m.Fields["foo"]) != `{"b":[1,2.50]}` {
			t.Errorf(`Fields["foo"] = %s, want the client's text compacted`, m.Fields["foo"])
		}
	})
	t.Run("invalid UTF-8 in passed-through values is repaired", func(t *testing.T) {
		m, _ := decodeOne(t, "[{\"user\": \"u\", \"channel\": \"c\", \"message\": {\"t\": \"a\xffb\"}}]", core.KindSend)
		if got := string(m.Fields["message"]); got != "{\"t\":\"a\uFFFDb\"}" {
			t.Errorf(`Fields["message"] = %q`, got)
		}
	})
	t.Run("several messages keep body order", func(t *testing.T) {
		msgs, echo, err := decodeMessages([]byte(`[{"user": "u", "channel": "a"}, {"user": "u", "pm_users": ["p"]}]`), core.KindSend, testNow)
		if err != nil || len(msgs) != 2 || len(echo) != 2 || msgs[0].Channel != "a" || msgs[1].PMUsers[0] != "p" ||
			msgs[0].UUID == msgs[1].UUID {
			t.Errorf("decodeMessages = %+v, %v", msgs, err)
		}
	})
}

func TestDecodeMessagesEdit(t *testing.T) {
	t.Run("edited defaults to now, absent keys left out (checklist 70)", func(t *testing.T) {
		m, echo := decodeOne(t, `[{"uuid": "`+testUUID+`", "channel": "ed", "message": {"text": "edited"}}]`, core.KindEdit)
		mustJSON(t, []byte(echo), `{"pm_users":[],"exclude_users":[],"channel":"ed","no_history":false,
			"uuid":"`+testUUID+`","message":{"text":"edited"},"edited":"`+testNowISO+`"}`)
		mustJSON(t, fieldsJSON(t, m.Fields), `{"message":{"text":"edited"},"edited":"`+testNowISO+`"}`)
		if m.Kind != core.KindEdit || m.UUID != testUUID || m.Channel != "ed" {
			t.Errorf("message = %+v", m)
		}
	})
	t.Run("given keys and extras", func(t *testing.T) {
		m, echo := decodeOne(t, `{"uuid": "`+testUUID+`", "user": "u2", "timestamp": "2010-01-01 00:00:00.000001+01",
			"edited": "2010-01-01T00:00:00Z", "pm_users": ["a"], "x": null, "type": "t"}`, core.KindEdit)
		mustJSON(t, []byte(echo), `{"pm_users":["a"],"exclude_users":[],"channel":null,"no_history":false,"uuid":"`+testUUID+`",
			"user":"u2","timestamp":"2010-01-01T00:00:00.000001+01:00","type":"t","x":null,"edited":"2010-01-01T00:00:00+00:00"}`)
		mustJSON(t, fieldsJSON(t, m.Fields), `{"user":"u2","timestamp":"2010-01-01T00:00:00.000001+01:00","x":null,
			"edited":"2010-01-01T00:00:00Z"}`)
	})
	t.Run("no channel and no pm_users is kept", func(t *testing.T) {
		msgs, echo, err := decodeMessages([]byte(`[{"uuid": "`+testUUID+`"}]`), core.KindEdit, testNow)
		if err != nil || len(msgs) != 1 || len(echo) != 1 {
			t.Errorf("decodeMessages = %+v, %v", msgs, err)
		}
	})
}

func TestDecodeMessagesDelete(t *testing.T) {
	m, echo := decodeOne(t, `[{"uuid": "`+testUUID+`", "channel": "ed", "exclude_users": ["x"], "no_history": 1}]`, core.KindDelete)
	mustJSON(t, []byte(echo), `{"pm_users":[],"exclude_users":["x"],"channel":"ed","no_history":true,"uuid":"`+testUUID+`"}`)
	want := core.Message{Kind: core.KindDelete, UUID: testUUID, Channel: "ed", PMUsers: []string{},
		ExcludeUsers: []string{"x"}, NoHistory: true}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("message = %#v\nwant %#v (checklist 74)", m, want)
	}
}
