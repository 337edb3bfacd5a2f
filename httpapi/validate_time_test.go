package httpapi

import (
	"encoding/json"
	"testing"
	"time"
)

func TestValidDatetime(t *testing.T) {
	tests := []struct {
		in, iso, client string
	}{
		{"2010-01-01T01:01", "2010-01-01T01:01:00", "2010-01-01T01:01:00"},
		{"2010-01-01 01:01:02", "2010-01-01T01:01:02", "2010-01-01T01:01:02"},
		{"2010-1-1 1:1:1.5Z", "2010-01-01T01:01:01.500000+00:00", "2010-01-01T01:01:01.500000Z"},
		{"2010-01-01T01:01:01.000000", "2010-01-01T01:01:01", "2010-01-01T01:01:01"},
		{"2010-01-01T01:01:01.1234567891+0530", "2010-01-01T01:01:01.123456+05:30", "2010-01-01T01:01:01.123456+05:30"},
		{"2010-01-01T01:01:01-00", "2010-01-01T01:01:01+00:00", "2010-01-01T01:01:01Z"},
		{"2010-01-01T01:01:01+02", "2010-01-01T01:01:01+02:00", "2010-01-01T01:01:01+02:00"},
		{"2010-01-01T01:01:01-07:30", "2010-01-01T01:01:01-07:30", "2010-01-01T01:01:01-07:30"},
		{"2010-01-01T01:01:01+01:99", "2010-01-01T01:01:01+02:39", "2010-01-01T01:01:01+02:39"},
		{"2010-01-01T01:01:01+23:59", "2010-01-01T01:01:01+23:59", "2010-01-01T01:01:01+23:59"},
		{"2012-02-29T00:00:00\n", "2012-02-29T00:00:00", "2012-02-29T00:00:00"},
		{"0001-01-01T00:00", "0001-01-01T00:00:00", "0001-01-01T00:00:00"},
	}
	for _, tt := range tests {
		got, e := datetimeField(tt.in)
		if e != nil {
			t.Errorf("datetimeField(%q) error = %s", tt.in, errJSON(t, e))
			continue
		}
		if got.iso() != tt.iso || got.client() != tt.client {
			t.Errorf("datetimeField(%q) = %q / %q, want %q / %q", tt.in, got.iso(), got.client(), tt.iso, tt.client)
		}
	}
	invalid := []any{
		"", "x", "2010-01-01", "2010-01-01T01", "2010-02-30T01:01:01", "2011-02-29T00:00",
		"2010-13-01T00:00", "2010-00-01T00:00", "0000-01-01T00:00", "2010-01-01T24:00:00",
		"2010-01-01T00:60", "2010-01-01T00:00:60", "2010-01-01T00:00:00+24:00",
		"2010-01-01T00:00:00.1234567890123", "2010-01-01T00:00:00+1", "2010-01-01T00:00:00z",
		"2010-01-01X00:00", " 2010-01-01T00:00", "2010-01-01T00:00 ", "2010-01-01T00:00\n\n",
		json.Number("5"), true,
	}
	for _, v := range invalid {
		if _, e := datetimeField(v); errJSON(t, e) != `["Not a valid datetime."]` {
			t.Errorf("datetimeField(%#v) error = %s, want Not a valid datetime.", v, errJSON(t, e))
		}
	}
}

func TestValidDatetimeNow(t *testing.T) {
	loc := time.FixedZone("x", 3600)
	now := time.Date(2026, 11, 25, 10, 23, 9, 22902123, loc)
	if got, want := naiveUTC(now).iso(), "2026-11-25T09:23:09.022902"; got != want {
		t.Errorf("naiveUTC(now).iso() = %q, want %q", got, want)
	}
	whole := time.Date(2026, 11, 25, 9, 23, 9, 999, time.UTC)
	if got, want := naiveUTC(whole).client(), "2026-11-25T09:23:09"; got != want {
		t.Errorf("naiveUTC(whole second).client() = %q, want %q", got, want)
	}
}
