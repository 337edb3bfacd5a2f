package core

import (
	"errors"
	"strings"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []Cursor{
		{Seq: 0},
		{Seq: 42},
		{Seq: 7, Pos: []Pos{{Partition: 0, Epoch: 1, N: 0}}},
		{Seq: 18446744073709551615, Pos: []Pos{{Partition: 3, Epoch: 4294967295, N: 18446744073709551615}, {Partition: 15, Epoch: 2, N: 9}}},
	} {
		s := c.String()
		got, err := ParseCursor(s)
		if err != nil {
			t.Fatalf("ParseCursor(%q): %v", s, err)
		}
		if got.String() != s || got.Seq != c.Seq || len(got.Pos) != len(c.Pos) {
			t.Fatalf("ParseCursor(%q) = %+v, want %+v", s, got, c)
		}
		for _, p := range c.Pos {
			if at, ok := got.At(p.Partition); !ok || at != p {
				t.Fatalf("%q: At(%d) = %+v %v, want %+v", s, p.Partition, at, ok, p)
			}
		}
		if _, ok := got.At(99); ok {
			t.Fatalf("%q: At(99) found a position", s)
		}
	}
	if s := (Cursor{Seq: 5, Pos: []Pos{{Partition: 1, Epoch: 2, N: 3}}}).String(); s != "5-1.2.3" {
		t.Fatalf("String = %q, want 5-1.2.3", s)
	}
}

func TestParseCursorRefusesWhatIsNotACursor(t *testing.T) {
	for _, s := range []string{
		"", "-", "x", "1-", "1-1.1", "1-1.1.1.1", "1-a.1.1", "1-1.0.5", "1-2.1.1-2.1.1", "1-3.1.1-2.1.1",
		"-1", "1--1.1.1", "18446744073709551616", "1-1.4294967296.1", "1-2147483648.1.1", " 1", "1\n",
		strings.Repeat("1", 5000),
	} {
		if c, err := ParseCursor(s); !errors.Is(err, ErrBadCursor) {
			t.Errorf("ParseCursor(%q) = %+v, %v; want ErrBadCursor", s, c, err)
		}
	}
}
