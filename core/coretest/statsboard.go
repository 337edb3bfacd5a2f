package coretest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// TestStatsBoard runs the core.StatsBoard conformance suite. newBoards
// returns, for one subtest, two handles on one new, empty board (as two
// nodes of a cluster hold), released with t.Cleanup; subtests run in
// parallel, so boards of different calls must not share totals.
func TestStatsBoard(t *testing.T, newBoards func(t *testing.T) (a, b core.StatsBoard)) {
	cases := []struct {
		name string
		run  func(t *testing.T, a, b core.StatsBoard)
	}{
		{"an empty board totals zero", testStatsEmpty},
		{"posts of several ids add up and read alike through every handle", testStatsSum},
		{"a repeated post counts nothing twice, a grown one adds the growth", testStatsRepeat},
		{"a new id adds all its counters and an id no longer posted stays counted", testStatsRestart},
		{"concurrent posts of many ids add up exactly", testStatsConcurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, b := newBoards(t)
			c.run(t, a, b)
		})
	}
}

func post(t *testing.T, b core.StatsBoard, id string, m, u int64) {
	t.Helper()
	if err := b.Post(t.Context(), id, core.Counters{Messages: m, UniqueMessages: u}); err != nil {
		t.Fatalf("Post(%s, %d, %d): %v", id, m, u, err)
	}
}

func wantTotals(t *testing.T, b core.StatsBoard, m, u int64) {
	t.Helper()
	got, err := b.Totals(t.Context())
	if err != nil {
		t.Fatalf("Totals: %v", err)
	}
	if want := (core.Counters{Messages: m, UniqueMessages: u}); got != want {
		t.Fatalf("Totals = %+v, want %+v", got, want)
	}
}

func testStatsEmpty(t *testing.T, a, _ core.StatsBoard) { wantTotals(t, a, 0, 0) }

func testStatsSum(t *testing.T, a, b core.StatsBoard) {
	post(t, a, "node0:x", 7, 3)
	post(t, b, "node1:y", 5, 2)
	wantTotals(t, a, 12, 5)
	wantTotals(t, b, 12, 5)
}

func testStatsRepeat(t *testing.T, a, b core.StatsBoard) {
	post(t, a, "node0:x", 7, 3)
	post(t, a, "node0:x", 7, 3)
	post(t, b, "node0:x", 7, 3)
	wantTotals(t, b, 7, 3)
	post(t, a, "node0:x", 10, 3)
	wantTotals(t, b, 10, 3)
	post(t, a, "node0:x", 10, 4)
	wantTotals(t, a, 10, 4)
}

func testStatsRestart(t *testing.T, a, b core.StatsBoard) {
	post(t, a, "node0:first", 7, 3)
	post(t, b, "node1:y", 1, 1)
	post(t, a, "node0:second", 2, 1) // node0 started again
	wantTotals(t, b, 10, 5)
	post(t, b, "node1:y", 4, 1)
	wantTotals(t, a, 13, 5)
}

func testStatsConcurrent(t *testing.T, a, b core.StatsBoard) {
	const ids, posts = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, ids*posts)
	for i := range ids {
		board := a
		if i%2 == 1 {
			board = b
		}
		wg.Go(func() {
			for n := range int64(posts) {
				if err := board.Post(t.Context(), fmt.Sprint("node", i), core.Counters{Messages: 2 * (n + 1), UniqueMessages: n + 1}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Post: %v", err)
	}
	wantTotals(t, a, ids*posts*2, ids*posts)
}
