package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// mustFieldErrors fails t unless err is FieldErrors whose JSON equals want.
func mustFieldErrors(t *testing.T, err error, want string) {
	t.Helper()
	var fe FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want FieldErrors %s", err, err, want)
	}
	got, jerr := json.Marshal(fe)
	if jerr != nil {
		t.Fatalf("marshal FieldErrors: %v", jerr)
	}
	mustJSON(t, got, want)
}

// mustBadRequest fails t unless err is a *BadRequest whose message contains sub.
func mustBadRequest(t *testing.T, err error, sub string) {
	t.Helper()
	var br *BadRequest
	if !errors.As(err, &br) {
		t.Fatalf("error = %v (%T), want *BadRequest", err, err)
	}
	if !strings.Contains(br.Msg, sub) {
		t.Fatalf("BadRequest.Msg = %q, want it to contain %q", br.Msg, sub)
	}
}

// mustJSON fails t unless got and want are the same JSON value (key order aside).
func mustJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// errJSON encodes a fieldError for comparison ("" when nil).
func errJSON(t *testing.T, e fieldError) string {
	t.Helper()
	if e == nil {
		return ""
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidErrorTypes(t *testing.T) {
	fe := FieldErrors{"username": []string{msgMissing}}
	if got, want := fe.Error(), `invalid request body: {"username":["Missing data for required field."]}`; got != want {
		t.Errorf("FieldErrors.Error() = %q, want %q", got, want)
	}
	br := &BadRequest{Msg: "invalid JSON at offset 3: x"}
	if got := br.Error(); got != br.Msg {
		t.Errorf("BadRequest.Error() = %q, want %q", got, br.Msg)
	}
}

func TestValidString(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
		err  string
	}{
		{"one char ok", "a", "a", ""},
		{"512 code points ok", strings.Repeat("é", 512), strings.Repeat("é", 512), ""},
		{"empty too short", "", "", `["Length must be between 1 and 512."]`},
		{"513 code points too long", strings.Repeat("é", 513), "", `["Length must be between 1 and 512."]`},
		{"number not a string", json.Number("5"), "", `["Not a valid string."]`},
		{"bool not a string", true, "", `["Not a valid string."]`},
		{"list not a string", []any{"a"}, "", `["Not a valid string."]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, e := userName(tt.in)
			if errJSON(t, e) != tt.err || got != tt.want {
				t.Errorf("userName(%v) = %q, %s; want %q, %s", tt.in, got, errJSON(t, e), tt.want, tt.err)
			}
		})
	}
	if _, e := channelName(strings.Repeat("c", 257)); errJSON(t, e) != `["Length must be between 1 and 256."]` {
		t.Errorf("channelName(257 chars) error = %s", errJSON(t, e))
	}
}

func TestValidList(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want []string
		err  string
	}{
		{"empty list ok", []any{}, []string{}, ""},
		{"names ok", []any{"a", "b"}, []string{"a", "b"}, ""},
		{"string not a list", "a", nil, `["Not a valid list."]`},
		{"object not a list", map[string]any{}, nil, `["Not a valid list."]`},
		{"item errors keyed by index", []any{json.Number("1"), "", "ok", nil},
			nil, `{"0":["Not a valid string."],"1":["Length must be between 1 and 256."],"3":["Field may not be null."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, e := channelList(tt.in)
			if errJSON(t, e) != tt.err || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("channelList(%v) = %#v, %s; want %#v, %s", tt.in, got, errJSON(t, e), tt.want, tt.err)
			}
		})
	}
	if _, e := nonEmpty(channelList)([]any{}); errJSON(t, e) != `["Shorter than minimum length 1."]` {
		t.Errorf("nonEmpty([]) error = %s", errJSON(t, e))
	}
}

func TestValidBoolean(t *testing.T) {
	truthy := []any{true, json.Number("1"), json.Number("1.0"), json.Number("1e0"),
		"true", "True", "TRUE", "tRuE", "t", "T", "1", "yes", "YES", "y", "on", "On"}
	falsy := []any{false, json.Number("0"), json.Number("-0"), json.Number("0.0"), json.Number("1e-400"),
		"false", "False", "FALSE", "f", "F", "0", "no", "NO", "n", "off", "OFF"}
	invalid := []any{json.Number("2"), json.Number("-1"), json.Number("0.5"), json.Number("1e400"),
		"", " 1", "1 ", "truee", "maybe", "ſ", []any{}, map[string]any{}}
	for _, v := range truthy {
		if got, e := boolean(v); !got || e != nil {
			t.Errorf("boolean(%#v) = %v, %v; want true", v, got, e)
		}
	}
	for _, v := range falsy {
		if got, e := boolean(v); got || e != nil {
			t.Errorf("boolean(%#v) = %v, %v; want false", v, got, e)
		}
	}
	for _, v := range invalid {
		if _, e := boolean(v); errJSON(t, e) != `["Not a valid boolean."]` {
			t.Errorf("boolean(%#v) error = %s; want Not a valid boolean.", v, errJSON(t, e))
		}
	}
}

func TestValidInteger(t *testing.T) {
	tests := []struct {
		in   any
		want int
		err  string
	}{
		{json.Number("7"), 7, ""},
		{json.Number("7.0"), 7, ""},
		{json.Number("7e2"), 700, ""},
		{json.Number("-3"), -3, ""},
		{json.Number("1e-400"), 0, ""},
		{json.Number("100000000000000000000000000"), math.MaxInt, ""},
		{json.Number("1e30"), math.MaxInt, ""},
		{json.Number("-100000000000000000000000000"), math.MinInt, ""},
		{json.Number("9223372036854775807"), math.MaxInt, ""},
		{json.Number("-9223372036854775808"), math.MinInt, ""},
		{json.Number("0007"), 7, ""},
		{json.Number(strings.Repeat("9", 100000)), math.MaxInt, ""},
		{"-0", 0, ""},
		{"7", 7, ""},
		{" 7 ", 7, ""},
		{"+5", 5, ""},
		{"1_000", 1000, ""},
		{"-12", -12, ""},
		{json.Number("7.5"), 0, `["Not a valid integer."]`},
		{json.Number("1e400"), 0, `["Number too large."]`},
		{json.Number("-1e400"), 0, `["Number too large."]`},
		{"7.0", 0, `["Not a valid integer."]`},
		{"", 0, `["Not a valid integer."]`},
		{"+-1", 0, `["Not a valid integer."]`},
		{"1__0", 0, `["Not a valid integer."]`},
		{"_1", 0, `["Not a valid integer."]`},
		{"1_", 0, `["Not a valid integer."]`},
		{"0x10", 0, `["Not a valid integer."]`},
		{true, 0, `["Not a valid integer."]`},
		{[]any{}, 0, `["Not a valid integer."]`},
	}
	for _, tt := range tests {
		got, e := integer(tt.in)
		if errJSON(t, e) != tt.err || (e == nil && got != tt.want) {
			t.Errorf("integer(%#v) = %d, %s; want %d, %s", tt.in, got, errJSON(t, e), tt.want, tt.err)
		}
	}
	if _, e := nonNegative(json.Number("-1")); errJSON(t, e) != `["Must be greater than or equal to 0."]` {
		t.Errorf("nonNegative(-1) error = %s", errJSON(t, e))
	}
	if _, e := nonNegative("-1"); errJSON(t, e) != `["Must be greater than or equal to 0."]` {
		t.Errorf(`nonNegative("-1") error = %s`, errJSON(t, e))
	}
	if got, e := nonNegative(json.Number("0")); got != 0 || e != nil {
		t.Errorf("nonNegative(0) = %d, %v", got, e)
	}
}

func TestParseConnID(t *testing.T) {
	const canon = "12345678-1234-1234-1234-123456789abc"
	valid := []string{
		canon,
		"12345678-1234-1234-1234-123456789ABC",
		"12345678123412341234123456789abc",
		"{12345678-1234-1234-1234-123456789abc}",
		"urn:uuid:12345678-1234-1234-1234-123456789abc",
		"urn:uuid:12345678123412341234123456789ABC",
		"1234-5678-1234-1234-1234-1234-5678-9abc",
	}
	invalid := []string{
		"", "x", "12345678-1234-1234-1234-123456789ab", "12345678-1234-1234-1234-123456789abcd",
		"12345678-1234-1234-1234-123456789abg", "URN:UUID:12345678123412341234123456789abc",
		" 12345678123412341234123456789abc",
	}
	for _, s := range valid {
		if got, ok := parseConnID(s); !ok || got != canon {
			t.Errorf("parseConnID(%q) = %q, %v; want %q", s, got, ok, canon)
		}
	}
	for _, s := range invalid {
		if got, ok := parseConnID(s); ok {
			t.Errorf("parseConnID(%q) = %q, accepted; want rejected", s, got)
		}
	}
	if _, e := uuidField(json.Number("5")); errJSON(t, e) != `["Not a valid UUID."]` {
		t.Errorf("uuidField(5) error = %s", errJSON(t, e))
	}
	id := newUUID()
	if got, ok := parseConnID(id); !ok || got != id || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
		t.Errorf("newUUID() = %q, not a canonical version 4 UUID", id)
	}
}

func TestValidState(t *testing.T) {
	st, e := stateField(map[string]any{"s": "x", "n": json.Number("1.50"), "b": true, "z": nil})
	if e != nil {
		t.Fatalf("stateField error = %s", errJSON(t, e))
	}
	want := map[string]any{"s": "x", "n": json.Number("1.50"), "b": true, "z": nil}
	if !reflect.DeepEqual(map[string]any(st), want) {
		t.Errorf("stateField = %#v, want %#v (numbers keep their text)", st, want)
	}
	_, e = stateField(map[string]any{"k": []any{json.Number("1")}, "o": map[string]any{}, "ok": "v"})
	wantErr := `{"k":{"value":["Value is not type of string, integer, boolean or float."]},` +
		`"o":{"value":["Value is not type of string, integer, boolean or float."]}}`
	if errJSON(t, e) != wantErr {
		t.Errorf("stateField(list, object) error = %s, want %s", errJSON(t, e), wantErr)
	}
	if _, e := stateField([]any{}); errJSON(t, e) != `["Not a valid mapping type."]` {
		t.Errorf("stateField([]) error = %s", errJSON(t, e))
	}
	if _, e := mapping("x"); errJSON(t, e) != `["Not a valid mapping type."]` {
		t.Errorf(`mapping("x") error = %s`, errJSON(t, e))
	}
}
