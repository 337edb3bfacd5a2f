package main

import "math/bits"

// seqSet is the set of message sequence numbers one subscriber received:
// a bitmap over [0, size). It is owned by one goroutine (the subscriber's
// reader); read it only after that goroutine has finished.
type seqSet struct {
	words []uint64
	size  uint64
}

func newSeqSet(size uint64) seqSet {
	return seqSet{words: make([]uint64, (size+63)/64), size: size}
}

// add marks seq as received. It reports dup when seq was already there and
// ok=false when seq is outside the set's range (nothing is marked).
func (s *seqSet) add(seq uint64) (dup, ok bool) {
	if seq >= s.size {
		return false, false
	}
	w, b := seq/64, uint64(1)<<(seq%64)
	if s.words[w]&b != 0 {
		return true, true
	}
	s.words[w] |= b
	return false, true
}

// has reports whether seq was received.
func (s *seqSet) has(seq uint64) bool {
	return seq < s.size && s.words[seq/64]&(1<<(seq%64)) != 0
}

// countRange returns how many seqs of [lo, hi) were received.
func (s *seqSet) countRange(lo, hi uint64) uint64 {
	hi = min(hi, s.size)
	var n uint64
	for lo < hi {
		w := lo / 64
		word := s.words[w] >> (lo % 64)
		span := min(64-lo%64, hi-lo)
		if span < 64 {
			word &= (1 << span) - 1
		}
		n += uint64(bits.OnesCount64(word))
		lo += span
	}
	return n
}

// missing returns how many seqs of [lo, hi) were not received, leaving out
// those for which skip returns true (messages whose publish failed).
func (s *seqSet) missing(lo, hi uint64, skip func(uint64) bool) uint64 {
	var n uint64
	for seq := lo; seq < hi; seq++ {
		if !s.has(seq) && (skip == nil || !skip(seq)) {
			n++
		}
	}
	return n
}
