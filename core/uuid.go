package core

import (
	"encoding/hex"
	"strings"
)

// ParseUUID accepts what Python's uuid.UUID() accepts (dashed, 32 hex
// digits, braces, a "urn:uuid:" prefix, any case) and returns the canonical
// lowercase dashed form.
func ParseUUID(s string) (string, bool) {
	if len(s) >= 9 && strings.EqualFold(s[:9], "urn:uuid:") {
		s = s[9:]
	}
	s = strings.Trim(s, "{}")
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return "", false
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return "", false
	}
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], true
}
