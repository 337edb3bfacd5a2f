package core

import "testing"

func TestUUID16RoundTripsCanonicalTextOnly(t *testing.T) {
	for range 100 {
		s := NewUUID()
		u, ok := uuid16Of(s)
		if !ok || u.String() != s {
			t.Fatalf("uuid16Of(%q) = %v, %v; String %q", s, u, ok, u.String())
		}
	}
	for _, s := range []string{
		"",
		"c0ffee00-0000-4000-8000-00000000000",   // short
		"c0ffee00-0000-4000-8000-0000000000001", // long
		"C0FFEE00-0000-4000-8000-000000000001",  // upper case
		"c0ffee00-0000-4000-8000-00000000000g",  // not hex
		"c0ffee000-000-4000-8000-000000000001",  // dash misplaced
		"c0ffee00000000400080000000000000001--", // no dashes
		"carol-1",
	} {
		if u, ok := uuid16Of(s); ok {
			t.Errorf("uuid16Of(%q) = %v, accepted", s, u)
		}
	}
}
