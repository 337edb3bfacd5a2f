package main

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// Histogram is an HDR-like histogram of non-negative int64 values
// (latencies in nanoseconds): values below linearMax have a bucket each,
// larger ones fall into logarithmic buckets of subCount sub-buckets per power
// of two, so a bucket's width is at most 1/subCount (0.8 %) of its lower
// bound. Quantiles report a bucket's midpoint, within 0.4 % of the true
// value; Min, Max, Count and Sum are exact.
//
// Record is safe for concurrent use and does not allocate; read the
// histogram once the recording goroutines are done (or accept a slightly
// torn snapshot).
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Uint64
	min    atomic.Int64 // valid when count > 0
	max    atomic.Int64
	// clamped counts negative values, recorded as 0.
	clamped atomic.Uint64
}

const (
	subBits    = 7
	subCount   = 1 << subBits // sub-buckets per power of two
	linearMax  = 2 * subCount // values below this are exact
	numBuckets = linearMax + (64-subBits-2)*subCount
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v < linearMax {
		return int(v)
	}
	e := bits.Len64(v) - (subBits + 1) // ≥ 1
	m := v >> e                        // in [subCount, 2*subCount)
	return linearMax + (e-1)*subCount + int(m-subCount)
}

// bucketRange returns the values [lo, hi) that bucket i holds.
func bucketRange(i int) (lo, hi uint64) {
	if i < linearMax {
		return uint64(i), uint64(i) + 1
	}
	e := (i-linearMax)/subCount + 1
	m := uint64((i-linearMax)%subCount + subCount)
	return m << e, (m + 1) << e
}

// Record adds one value; a negative value counts as 0 (and in Clamped).
func (h *Histogram) Record(v int64) {
	if v < 0 {
		h.clamped.Add(1)
		v = 0
	}
	h.counts[bucketOf(uint64(v))].Add(1)
	h.count.Add(1)
	h.sum.Add(uint64(v))
	for {
		cur := h.min.Load()
		if v >= cur || h.min.CompareAndSwap(cur, v) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if v <= cur || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Clamped returns how many negative values were recorded as 0.
func (h *Histogram) Clamped() uint64 { return h.clamped.Load() }

// Min returns the smallest value, 0 when empty.
func (h *Histogram) Min() int64 {
	if h.Count() == 0 {
		return 0
	}
	return h.min.Load()
}

// Max returns the largest value, 0 when empty.
func (h *Histogram) Max() int64 { return h.max.Load() }

// Mean returns the average value, 0 when empty.
func (h *Histogram) Mean() float64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value at quantile q in [0, 1]: the midpoint of the
// bucket holding the ceil(q·count)-th smallest value, kept within [Min,
// Max]. Quantile(1) is Max exactly. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	if q >= 1 {
		return h.Max()
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bucketRange(i)
			mid := int64(lo + (hi-lo-1)/2)
			return min(max(mid, h.Min()), h.Max())
		}
	}
	return h.Max()
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.Count() == 0 {
		return
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.count.Add(o.count.Load())
	h.sum.Add(o.sum.Load())
	h.clamped.Add(o.clamped.Load())
	for v := o.min.Load(); ; {
		cur := h.min.Load()
		if v >= cur || h.min.CompareAndSwap(cur, v) {
			break
		}
	}
	for v := o.max.Load(); ; {
		cur := h.max.Load()
		if v <= cur || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
}
