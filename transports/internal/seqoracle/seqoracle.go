// Package seqoracle is the transports' fuzz tests' own reading of a
// sequence number and of a resume cursor, written apart from the parsers
// it checks.
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

// Cursor reads s as a resume cursor's text (core.Cursor): a seq, then for
// each partition "-<partition>.<epoch>.<n>", partitions below 2^31 and
// strictly increasing, epochs from 1 to 2^32-1, at most 4096 bytes. It
// returns the seq and whether any partition follows it.
func Cursor(s string) (seq uint64, positions bool, ok bool) {
	if len(s) > 4096 {
		return 0, false, false
	}
	fields := [][]byte{nil}
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			fields = append(fields, nil)
			continue
		}
		fields[len(fields)-1] = append(fields[len(fields)-1], s[i])
	}
	seq, ok = Decimal(string(fields[0]))
	if !ok {
		return 0, false, false
	}
	prev := int64(-1)
	for _, f := range fields[1:] {
		var nums []string
		start := 0
		for i := 0; i <= len(f); i++ {
			if i == len(f) || f[i] == '.' {
				nums = append(nums, string(f[start:i]))
				start = i + 1
			}
		}
		if len(nums) != 3 {
			return 0, false, false
		}
		p, okP := Decimal(nums[0])
		e, okE := Decimal(nums[1])
		_, okN := Decimal(nums[2])
		if !okP || !okE || !okN || p >= 1<<31 || e == 0 || e >= 1<<32 || int64(p) <= prev {
			return 0, false, false
		}
		prev = int64(p)
	}
	return seq, len(fields) > 1, true
}
