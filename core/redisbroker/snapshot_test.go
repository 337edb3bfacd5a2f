package redisbroker_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// xaddFar is an XADD of op with an explicit id to the stream of prefix.
func xaddFar(prefix, id, op string) *redis.XAddArgs {
	return &redis.XAddArgs{Stream: prefix + "{ctl}:log", ID: id, Values: []any{"op", op}}
}

func TestSaveSnapshotTrimsTheStream(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	raw := rawClient(t, srv)
	stream := prefixFor(t) + "{ctl}:log"
	var ids []string
	for i := range 10 {
		ids = append(ids, mustAppend(t, l, "op-"+strconv.Itoa(i)))
	}
	xlen := func() int64 {
		t.Helper()
		n, err := raw.XLen(ctxFor(t), stream).Result()
		if err != nil {
			t.Fatalf("XLEN: %v", err)
		}
		return n
	}
	if n := xlen(); n != 10 {
		t.Fatalf("XLEN = %d, want 10", n)
	}
	if err := l.SaveSnapshot(ctxFor(t), ids[5], []byte("s5")); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	if n := xlen(); n != 10 {
		t.Fatalf("XLEN after the first snapshot = %d, want 10 (nothing before a previous snapshot to trim)", n)
	}
	// An older snapshot changes nothing.
	if err := l.SaveSnapshot(ctxFor(t), ids[2], []byte("s2")); err != nil {
		t.Fatalf("SaveSnapshot of an older id: %v", err)
	}
	if id, state, err := l.LoadSnapshot(ctxFor(t)); err != nil || id != ids[5] || string(state) != "s5" {
		t.Fatalf("LoadSnapshot = %q, %q, %v; want %q, s5", id, state, err, ids[5])
	}
	// The next snapshot trims what precedes the previous one (ids[5] is
	// kept, harmlessly), and the next id still grows.
	if err := l.SaveSnapshot(ctxFor(t), ids[9], []byte("s9")); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	if n := xlen(); n != 5 {
		t.Fatalf("XLEN after a second snapshot = %d, want 5 (ids[5] to ids[9])", n)
	}
	next := mustAppend(t, l, "next")
	if l.CompareIDs(next, ids[9]) <= 0 {
		t.Fatalf("id after trimming everything = %s, not after %s", next, ids[9])
	}
	r := follow(t, l, ids[9])
	checkOps(t, r.waitOp(t, "next"), []string{"next"})
}

func TestSaveSnapshotRefusesIDsTheLogNeverReached(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	ctx := ctxFor(t)
	if err := l.SaveSnapshot(ctx, "5-0", []byte("s")); !errors.Is(err, redisbroker.ErrNoSuchEntry) {
		t.Fatalf("SaveSnapshot on an empty log = %v, want ErrNoSuchEntry", err)
	}
	id := mustAppend(t, l, "op")
	if err := l.SaveSnapshot(ctx, "99999999999999-0", []byte("s")); !errors.Is(err, redisbroker.ErrNoSuchEntry) {
		t.Fatalf("SaveSnapshot after the last entry = %v, want ErrNoSuchEntry", err)
	}
	if err := l.SaveSnapshot(ctx, "not-an-id", []byte("s")); err == nil || errors.Is(err, redisbroker.ErrNoSuchEntry) {
		t.Fatalf("SaveSnapshot of a malformed id = %v, want a parse error", err)
	}
	if got, _, err := l.LoadSnapshot(ctx); err != nil || got != "" {
		t.Fatalf("LoadSnapshot after refused saves = %q, %v; want none", got, err)
	}
	if err := l.SaveSnapshot(ctx, id, []byte("s")); err != nil {
		t.Fatalf("SaveSnapshot at the last entry: %v", err)
	}
}

// Readers that look at the keys in one MULTI never see a snapshot without
// its trim or a trim without its snapshot.
func TestSaveSnapshotIsAtomic(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	raw := rawClient(t, srv)
	prefix := prefixFor(t)

	type seen struct{ snapID, state, prev, first string }
	var (
		mu  sync.Mutex
		ids []string // every appended id, in order
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var views []seen
	checkerDone := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			var snap *redis.SliceCmd
			var first *redis.XMessageSliceCmd
			_, err := raw.TxPipelined(ctx, func(p redis.Pipeliner) error {
				snap = p.HMGet(ctx, prefix+"{ctl}:snapshot", "id", "state", "prev")
				first = p.XRangeN(ctx, prefix+"{ctl}:log", "-", "+", 1)
				return nil
			})
			if err != nil && ctx.Err() == nil {
				checkerDone <- err
				return
			}
			var v seen
			if vals := snap.Val(); len(vals) == 3 {
				v.snapID, _ = vals[0].(string)
				v.state, _ = vals[1].(string)
				v.prev, _ = vals[2].(string)
			}
			if msgs := first.Val(); len(msgs) > 0 {
				v.first = msgs[0].ID
			}
			views = append(views, v)
		}
		checkerDone <- nil
	}()

	for i := range 300 {
		id := mustAppend(t, l, "op-"+strconv.Itoa(i))
		mu.Lock()
		ids = append(ids, id)
		mu.Unlock()
		if i%7 == 6 {
			if err := l.SaveSnapshot(ctxFor(t), id, []byte("state@"+id)); err != nil {
				t.Fatalf("SaveSnapshot: %v", err)
			}
		}
	}
	cancel()
	if err := <-checkerDone; err != nil {
		t.Fatalf("checker: %v", err)
	}
	withSnapshot := 0
	for _, v := range views {
		if v.snapID == "" {
			if v.first != "" && v.first != ids[0] {
				t.Fatalf("no snapshot yet the stream starts at %s, not %s", v.first, ids[0])
			}
			continue
		}
		withSnapshot++
		if v.state != "state@"+v.snapID {
			t.Fatalf("snapshot id %s holds state %q", v.snapID, v.state)
		}
		at := slices.Index(ids, v.snapID)
		if at < 0 {
			t.Fatalf("snapshot id %s was never appended", v.snapID)
		}
		// The stream starts at the previous snapshot's entry (at the first
		// entry while there was no previous snapshot).
		want := ids[0]
		if v.prev != "" {
			want = v.prev
		}
		if v.first != want {
			t.Fatalf("snapshot at %s (entry %d) after %q, but the stream starts at %s, want %s", v.snapID, at, v.prev, v.first, want)
		}
	}
	t.Logf("%d consistent views, %d with a snapshot", len(views), withSnapshot)
	if withSnapshot == 0 {
		t.Fatal("the checker never saw a snapshot; the test proves nothing")
	}
}

func TestMaxLenCapsTheStream(t *testing.T) {
	srv := redistest.Start(t)
	cfg := fastConfig
	cfg.MaxLen = 100
	l := newLog(t, srv, cfg)
	for i := range 1000 {
		mustAppend(t, l, "op-"+strconv.Itoa(i))
	}
	n, err := rawClient(t, srv).XLen(ctxFor(t), prefixFor(t)+"{ctl}:log").Result()
	if err != nil {
		t.Fatalf("XLEN: %v", err)
	}
	// MAXLEN ~ trims whole macro nodes (100 entries by default).
	if n < 100 || n > 300 {
		t.Fatalf("XLEN after 1000 appends with MaxLen 100 = %d, want about 100", n)
	}
}
