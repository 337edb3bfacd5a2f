// Package seqoracle is the transports' fuzz tests' own reading of a
// sequence number, written apart from the parsers it checks.
package seqoracle

// Decimal reads s as a seq: one or more ASCII digits (no sign, space or
// underscore) whose value fits a uint64.
func Decimal(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		d := uint64(s[i] - '0')
		if s[i] < '0' || s[i] > '9' || n > (^uint64(0)-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
