package coretest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// idComparer is the optional ability of a Log to order its ids.
type idComparer interface {
	CompareIDs(a, b string) int
}

// compareIDs orders ids with l's CompareIDs when it has one, or else as
// dash-separated unsigned numbers ("7", "1700000000000-3"); ok is false when
// neither applies.
func compareIDs(l core.Log, a, b string) (cmp int, ok bool) {
	if c, has := l.(idComparer); has {
		return c.CompareIDs(a, b), true
	}
	pa, errA := numericID(a)
	pb, errB := numericID(b)
	if errA != nil || errB != nil || len(pa) != len(pb) {
		return 0, false
	}
	for i := range pa {
		switch {
		case pa[i] < pb[i]:
			return -1, true
		case pa[i] > pb[i]:
			return 1, true
		}
	}
	return 0, true
}

func numericID(id string) ([]uint64, error) {
	var parts []uint64
	for _, s := range strings.Split(id, "-") {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
	}
	return parts, nil
}

func testAppendIDs(t *testing.T, l core.Log) {
	as := appendN(t, l, "op", 20)
	seen := make(map[string]bool)
	for i, a := range as {
		if seen[a.id] {
			t.Fatalf("Append returned id %q twice", a.id)
		}
		seen[a.id] = true
		if i == 0 {
			continue
		}
		cmp, ok := compareIDs(l, as[i-1].id, a.id)
		if !ok {
			t.Logf("ids %q, %q have no known order (no CompareIDs method, not numeric): growth checked through Follow only", as[i-1].id, a.id)
		} else if cmp >= 0 {
			t.Fatalf("Append returned %q after %q: ids must grow", a.id, as[i-1].id)
		}
	}
	f := startFollow(t, l, "follower", "")
	got, b := barrier(t, l, f)
	checkEntries(t, "Follow from the start", got, append(as, b))
}

func testAppendCopies(t *testing.T, l core.Log) {
	buf := []byte("first")
	ctx := ctxFor(t)
	id1, err := l.Append(ctx, buf)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	copy(buf, "XXXXX") // the caller reuses its slice
	id2, err := l.Append(ctx, buf)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	copy(buf, "YYYYY")
	f := startFollow(t, l, "follower", "")
	got, b := barrier(t, l, f)
	checkEntries(t, "Follow", got, []appended{{id1, "first"}, {id2, "XXXXX"}, b})
}

func testFollowFromStart(t *testing.T, l core.Log) {
	before := appendN(t, l, "before", 30)
	f := startFollow(t, l, "follower", "")
	after := appendN(t, l, "after", 30)
	got, b := barrier(t, l, f)
	want := append(append(before, after...), b)
	checkEntries(t, "Follow from the start", got, want)
}

func testFollowAfter(t *testing.T, l core.Log) {
	as := appendN(t, l, "old", 10)
	mid := startFollow(t, l, "after-5th", as[4].id)
	last := startFollow(t, l, "after-last", as[9].id)
	more := appendN(t, l, "new", 5)

	got, b := barrier(t, l, mid)
	checkEntries(t, "Follow after the 5th entry", got, append(append(append([]appended(nil), as[5:]...), more...), b))
	got, b2 := barrier(t, l, last)
	checkEntries(t, "Follow after the last entry", got, append(append(append([]appended(nil), more...), b), b2))
}

func testConcurrentOrder(t *testing.T, l core.Log) {
	const writers, perWriter = 4, 25
	f1 := startFollow(t, l, "follower-1", "")
	f2 := startFollow(t, l, "follower-2", "")

	ids := make(map[string]string) // op → id Append returned
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				op := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				id, err := l.Append(ctx, []byte(op))
				cancel()
				if err != nil {
					errs <- fmt.Errorf("Append(%q): %w", op, err)
					return
				}
				mu.Lock()
				ids[op] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	late := startFollow(t, l, "late-follower", "")
	var orders [][]core.Entry
	for _, f := range []*follower{f1, f2, late} {
		got, _ := barrier(t, l, f)
		// Each follower also sees the other followers' barriers; keep the
		// writers' entries only.
		var ws []core.Entry
		for _, e := range got {
			if strings.HasPrefix(string(e.Op), "w") {
				ws = append(ws, e)
			}
		}
		orders = append(orders, ws)

		if len(ws) != writers*perWriter {
			t.Fatalf("%s delivered %d writer entries, want %d", f.name, len(ws), writers*perWriter)
		}
		next := make([]int, writers) // per writer, the index expected next
		for _, e := range ws {
			var w, i int
			if _, err := fmt.Sscanf(string(e.Op), "w%d-%d", &w, &i); err != nil || w >= writers {
				t.Fatalf("%s delivered unknown op %q", f.name, e.Op)
			}
			if i != next[w] {
				t.Fatalf("%s delivered %q when writer %d's next op was %d: an op is missing, repeated, or out of its writer's order", f.name, e.Op, w, next[w])
			}
			next[w]++
			if want := ids[string(e.Op)]; e.ID != want {
				t.Fatalf("%s delivered %q with id %q, Append returned %q", f.name, e.Op, e.ID, want)
			}
		}
	}
	for i := 1; i < len(orders); i++ {
		for j := range orders[0] {
			if orders[i][j].ID != orders[0][j].ID {
				t.Fatalf("followers disagree at position %d: %q vs %q", j, orders[0][j].ID, orders[i][j].ID)
			}
		}
	}
}

func testFollowPrompt(t *testing.T, l core.Log) {
	f := startFollow(t, l, "follower", "")
	var slowest time.Duration
	for i := range 10 {
		op := "op-" + strconv.Itoa(i)
		start := time.Now()
		mustAppend(t, l, op)
		// After the first one, the follower is waiting for new entries.
		f.waitOp(t, promptly, op)
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("slowest append→delivery: %v", slowest)
}

func testFollowCancel(t *testing.T, l core.Log) {
	t.Run("while waiting for entries", func(t *testing.T) {
		f := startFollow(t, l, "waiting", "")
		a := mustAppend(t, l, "one")
		f.waitOp(t, waitTimeout, a.op) // it runs, and now waits
		start := time.Now()
		f.stop(t)
		t.Logf("returned %v after cancel", time.Since(start))
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- l.Follow(ctx, "", func(core.Entry) {}, nil) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Follow with a cancelled ctx returned %v, want nil", err)
			}
		case <-time.After(returnTimeout):
			t.Fatalf("Follow with a cancelled ctx did not return within %v", returnTimeout)
		}
	})
	t.Run("from inside fn", func(t *testing.T) {
		appendN(t, l, "op", 10)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		done := make(chan error, 1)
		go func() {
			done <- l.Follow(ctx, "", func(core.Entry) {
				calls++
				if calls == 3 {
					cancel()
				}
			}, nil)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Follow returned %v, want nil", err)
			}
		case <-time.After(returnTimeout):
			t.Fatalf("Follow did not return within %v after fn cancelled its ctx", returnTimeout)
		}
	})
}

func testNoSnapshot(t *testing.T, l core.Log) {
	check := func(when string) {
		t.Helper()
		id, state, err := l.LoadSnapshot(ctxFor(t))
		if err != nil || id != "" || len(state) != 0 {
			t.Fatalf("LoadSnapshot %s = %q, %q, %v; want \"\", empty, nil", when, id, state, err)
		}
	}
	check("on a new log")
	appendN(t, l, "op", 3)
	check("after appends")
}

// saveSnapshot saves state at id and fails the test when that fails.
func saveSnapshot(t *testing.T, l core.Log, id, state string) {
	t.Helper()
	if err := l.SaveSnapshot(ctxFor(t), id, []byte(state)); err != nil {
		t.Fatalf("SaveSnapshot(%q): %v", id, err)
	}
}

// loadSnapshot loads the newest snapshot and fails the test when that fails.
func loadSnapshot(t *testing.T, l core.Log) (string, string) {
	t.Helper()
	id, state, err := l.LoadSnapshot(ctxFor(t))
	if err != nil {
		t.Fatalf("LoadSnapshot: %v", err)
	}
	return id, string(state)
}

func testNewestSnapshot(t *testing.T, l core.Log) {
	as := appendN(t, l, "op", 3)
	saveSnapshot(t, l, as[0].id, "state-0")
	saveSnapshot(t, l, as[1].id, "state-1")
	if id, state := loadSnapshot(t, l); id != as[1].id || state != "state-1" {
		t.Fatalf("LoadSnapshot = %q, %q; want %q, %q", id, state, as[1].id, "state-1")
	}
}

func testSnapshotCopies(t *testing.T, l core.Log) {
	a := mustAppend(t, l, "op")
	buf := []byte("state")
	if err := l.SaveSnapshot(ctxFor(t), a.id, buf); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	copy(buf, "XXXXX") // the caller reuses its slice
	_, state, err := l.LoadSnapshot(ctxFor(t))
	if err != nil || string(state) != "state" {
		t.Fatalf("LoadSnapshot = %q, %v; want %q", state, err, "state")
	}
	copy(state, "YYYYY") // the caller changes what it got
	if _, state := loadSnapshot(t, l); state != "state" {
		t.Fatalf("LoadSnapshot after the caller changed the last result = %q, want %q", state, "state")
	}
}

func testFollowAfterSnapshot(t *testing.T, l core.Log) {
	as := appendN(t, l, "old", 10)
	saveSnapshot(t, l, as[5].id, "state-5")
	more := appendN(t, l, "new", 5)
	all := append(append([]appended(nil), as...), more...)

	f := startFollow(t, l, "after-snapshot", as[5].id)
	got, b := barrier(t, l, f)
	checkEntries(t, "Follow after the snapshot id", got, append(append([]appended(nil), all[6:]...), b))
	all = append(all, b)

	// From the start: the oldest entries may be gone, but what comes is a
	// suffix of the log that holds every entry after the snapshot.
	f = startFollow(t, l, "from-start", "")
	got, b = barrier(t, l, f)
	all = append(all, b)
	first := len(all) - len(got) // the index in all of the first entry delivered
	if first < 0 || first > 6 {
		t.Fatalf("Follow from the start delivered %d entries: %s; want a suffix of %s holding every entry after the snapshot",
			len(got), describe(got), describeAppended(all))
	}
	checkEntries(t, "Follow from the start", got, all[first:])
}

func testSnapshotOutOfOrder(t *testing.T, l core.Log) {
	as := appendN(t, l, "op", 6)
	// Two nodes snapshot at their own pace: the later call has the older id.
	saveSnapshot(t, l, as[4].id, "state-4")
	saveSnapshot(t, l, as[2].id, "state-2")
	id, state := loadSnapshot(t, l)
	at := -1
	for i, a := range as {
		if a.id == id {
			at = i
		}
	}
	if at < 0 || state != "state-"+strconv.Itoa(at) {
		t.Fatalf("LoadSnapshot = %q, %q; want one of the saved snapshots", id, state)
	}
	// A node starting from the loaded snapshot must get every later entry.
	f := startFollow(t, l, "from-snapshot", id)
	got, b := barrier(t, l, f)
	checkEntries(t, fmt.Sprintf("Follow after the loaded snapshot %q", id), got, append(append([]appended(nil), as[at+1:]...), b))
}

func testPing(t *testing.T, l core.Log) {
	if err := l.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
