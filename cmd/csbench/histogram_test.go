package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestBucketsCoverEveryValueInOrder(t *testing.T) {
	// Buckets are contiguous: each starts where the previous one ends.
	var prevHi uint64
	for i := range numBuckets {
		lo, hi := bucketRange(i)
		if lo != prevHi || hi <= lo {
			t.Fatalf("bucket %d is [%d, %d), previous ended at %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi-1) != i {
			t.Fatalf("bucket %d = [%d, %d) but bucketOf(lo)=%d bucketOf(hi-1)=%d", i, lo, hi, bucketOf(lo), bucketOf(hi-1))
		}
		if i >= linearMax && float64(hi-lo)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d = [%d, %d) is wider than 1/%d of its start", i, lo, hi, subCount)
		}
		prevHi = hi
	}
	if got := bucketOf(math.MaxInt64); got != numBuckets-1 {
		t.Fatalf("bucketOf(MaxInt64) = %d, want the last bucket %d", got, numBuckets-1)
	}
}

func TestQuantilesWithinOnePercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	vals := make([]int64, 200000)
	for i := range vals {
		// Log-uniform from 1 µs to 10 s, as latencies spread.
		vals[i] = int64(math.Exp(rng.Float64()*math.Log(1e7)) * 1e3)
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999} {
		want := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.01 {
			t.Errorf("Quantile(%v) = %d, exact %d: off by %.2f%%", q, got, want, 100*rel)
		}
	}
	if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] || h.Quantile(1) != h.Max() {
		t.Errorf("Min/Max = %d/%d, want exact %d/%d", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
	}
	if h.Count() != uint64(len(vals)) {
		t.Errorf("Count = %d, want %d", h.Count(), len(vals))
	}
}

func TestSmallValuesAreExact(t *testing.T) {
	h := NewHistogram()
	for v := range int64(100) {
		h.Record(v + 1) // 1..100
	}
	if got := h.Quantile(0.5); got != 50 {
		t.Errorf("median of 1..100 = %d, want 50", got)
	}
	if got := h.Quantile(0.99); got != 99 {
		t.Errorf("p99 of 1..100 = %d, want 99", got)
	}
	if got := h.Mean(); got != 50.5 {
		t.Errorf("mean = %v, want 50.5", got)
	}
}

func TestEmptyHistogramAnswersZero(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.5) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Error("an empty histogram must answer 0")
	}
}

func TestNegativeValuesAreClampedToZero(t *testing.T) {
	h := NewHistogram()
	h.Record(-5)
	h.Record(10)
	if h.Min() != 0 || h.Clamped() != 1 || h.Count() != 2 {
		t.Errorf("Min=%d Clamped=%d Count=%d, want 0, 1, 2", h.Min(), h.Clamped(), h.Count())
	}
}

func TestConcurrentRecordsAreAllCounted(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10000 {
				h.Record(int64(g*10000 + i))
			}
		}()
	}
	wg.Wait()
	if h.Count() != 80000 || h.Min() != 0 || h.Max() != 79999 {
		t.Errorf("Count=%d Min=%d Max=%d, want 80000, 0, 79999", h.Count(), h.Min(), h.Max())
	}
}

func TestMergeEqualsRecordingEverything(t *testing.T) {
	a, b, all := NewHistogram(), NewHistogram(), NewHistogram()
	for i := range int64(1000) {
		v := i * i * 37
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(b)
	for _, q := range []float64{0.1, 0.5, 0.99, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("Quantile(%v): merged %d, direct %d", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Min() != all.Min() || a.Mean() != all.Mean() {
		t.Error("merged Count/Min/Mean differ from direct recording")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	for i := range b.N {
		h.Record(int64(i) * 1013)
	}
}
