package core

import "testing"

// TestRing pushes and pops across wrap-arounds and growth and checks the
// order, the limit on growth and the release of large emptied storage.
func TestRing(t *testing.T) {
	var r ring
	next, want := uint64(1), uint64(1)
	check := func() {
		t.Helper()
		for i := range r.len() {
			if got := r.at(i).seq; got != want+uint64(i) {
				t.Fatalf("at(%d).seq = %d, want %d", i, got, want+uint64(i))
			}
		}
	}
	const limit = 20
	for round := range 50 {
		for range round % 7 {
			if r.len() == limit {
				break
			}
			r.push(entry{seq: next}, limit)
			next++
		}
		check()
		for range round % 5 {
			if r.len() == 0 {
				break
			}
			if e := r.pop(); e.seq != want {
				t.Fatalf("pop = %d, want %d", e.seq, want)
			}
			want++
		}
		check()
		if len(r.buf) > limit {
			t.Fatalf("storage grew to %d past the limit %d", len(r.buf), limit)
		}
	}

	t.Run("steady state allocates nothing", func(t *testing.T) {
		var q ring
		for i := range 100 {
			q.push(entry{seq: uint64(i)}, 101)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			q.pop()
			q.push(entry{}, 101)
		})
		if allocs != 0 {
			t.Errorf("%v allocs per push/pop", allocs)
		}
	})

	t.Run("emptied large storage is released, small kept", func(t *testing.T) {
		var q ring
		for i := range 200 {
			q.push(entry{seq: uint64(i)}, 1001)
		}
		for q.len() > 0 {
			q.pop()
		}
		if q.buf != nil {
			t.Errorf("kept %d entries of storage", len(q.buf))
		}
		q.push(entry{}, 1001)
		q.pop()
		if len(q.buf) == 0 || len(q.buf) > keepCap {
			t.Errorf("small storage %d not kept", len(q.buf))
		}
	})
}
