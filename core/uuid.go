package core

import (
	"encoding/hex"
	"strings"
)

// ParseUUID accepts what Python's uuid.UUID(hex) accepts and returns the
// canonical lowercase 8-4-4-4-12 form: every "urn:" and "uuid:" is removed,
// then braces at both ends, then every dash; 32 hex digits must remain.
func ParseUUID(s string) (string, bool) {
	s = strings.ReplaceAll(s, "urn:", "")
	s = strings.ReplaceAll(s, "uuid:", "")
	s = strings.Trim(s, "{}")
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return "", false
	}
	b := []byte(strings.ToLower(s))
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return string(b[0:8]) + "-" + string(b[8:12]) + "-" + string(b[12:16]) + "-" +
		string(b[16:20]) + "-" + string(b[20:32]), true
}

// uuid16 is a canonical UUID kept as its 16 bytes: a user's or a
// channel's uuid costs 16 bytes instead of a 36-byte string's 64 (every
// node keeps every user and channel of the cluster).
type uuid16 [16]byte

// uuid16Of returns s, a canonical lowercase UUID, as bytes; ok is false
// for any other text. It allocates nothing: connections are looked up by
// it.
func uuid16Of(s string) (u uuid16, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	// The groups have even lengths: no pair of digits straddles a dash.
	j := 0
	for i := 0; i < len(s); i += 2 {
		if s[i] == '-' {
			i--
			continue
		}
		hi, okHi := lowerHex(s[i])
		lo, okLo := lowerHex(s[i+1])
		if !okHi || !okLo {
			return uuid16{}, false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, true
}

// lowerHex is the value of the lowercase hex digit c.
func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// String returns the canonical lowercase 8-4-4-4-12 form.
func (u uuid16) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	hex.Encode(b[9:13], u[4:6])
	hex.Encode(b[14:18], u[6:8])
	hex.Encode(b[19:23], u[8:10])
	hex.Encode(b[24:36], u[10:16])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b[:])
}
