package core

import "strings"

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
