package coretest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

const (
	// waitTimeout bounds every wait of the suite, so that a Log that loses
	// an entry fails the test instead of hanging it.
	waitTimeout = 10 * time.Second
	// callTimeout is the ctx deadline of each Append, SaveSnapshot,
	// LoadSnapshot and Ping.
	callTimeout = 5 * time.Second
	// promptly is how soon an entry appended while a follower waits must
	// reach it.
	promptly = 2 * time.Second
	// returnTimeout is how soon Follow must return once its ctx is done.
	returnTimeout = 5 * time.Second
)

// follower records what one Follow call delivers.
type follower struct {
	name    string
	cancel  context.CancelFunc
	changed chan struct{} // gets a token after every delivery
	done    chan struct{} // closed when Follow returned
	err     error         // Follow's result, read after done

	inFn     atomic.Int32
	overlaps atomic.Int32 // fn calls that overlapped another

	mu      sync.Mutex
	entries []core.Entry
	errs    []error

	stopOnce sync.Once
}

// startFollow runs l.Follow(ctx, after, …) in a goroutine that records
// every entry; t.Cleanup stops it and checks that it returned nil in time
// and never called fn concurrently.
func startFollow(t *testing.T, l core.Log, name, after string) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{
		name:    name,
		cancel:  cancel,
		changed: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	go func() {
		defer close(f.done)
		f.err = l.Follow(ctx, after, f.deliver, f.fail)
	}()
	t.Cleanup(func() { f.stop(t) })
	return f
}

func (f *follower) deliver(e core.Entry) {
	if f.inFn.Add(1) > 1 {
		f.overlaps.Add(1)
	}
	defer f.inFn.Add(-1)
	f.mu.Lock()
	f.entries = append(f.entries, e)
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *follower) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err)
}

// stop cancels Follow's ctx and checks how it ended; only the first call
// does anything.
func (f *follower) stop(t *testing.T) {
	t.Helper()
	f.stopOnce.Do(func() {
		f.cancel()
		select {
		case <-f.done:
		case <-time.After(returnTimeout):
			t.Errorf("%s: Follow did not return within %v after its ctx was cancelled", f.name, returnTimeout)
			return
		}
		if f.err != nil {
			t.Errorf("%s: Follow returned %v after its ctx was cancelled, want nil", f.name, f.err)
		}
		if n := f.overlaps.Load(); n > 0 {
			t.Errorf("%s: fn was called concurrently %d times; Follow must call it from one goroutine", f.name, n)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, err := range f.errs {
			t.Logf("%s: onErr: %v", f.name, err)
		}
	})
}

// got returns a copy of the entries delivered so far.
func (f *follower) got() []core.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]core.Entry(nil), f.entries...)
}

// waitFor waits until ok holds for the entries delivered so far, and
// returns them; it fails the test after within.
func (f *follower) waitFor(t *testing.T, within time.Duration, what string, ok func([]core.Entry) bool) []core.Entry {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		got := f.got()
		if ok(got) {
			return got
		}
		select {
		case <-f.changed:
		case <-f.done:
			t.Fatalf("%s: Follow returned (%v) while waiting for %s; it has %d entries", f.name, f.err, what, len(got))
		case <-deadline.C:
			t.Fatalf("%s: no %s within %v; it has %d entries: %s", f.name, what, within, len(got), describe(got))
		}
	}
}

// waitLen waits until at least n entries were delivered.
func (f *follower) waitLen(t *testing.T, n int) []core.Entry {
	t.Helper()
	return f.waitFor(t, waitTimeout, fmt.Sprintf("%d entries", n), func(es []core.Entry) bool { return len(es) >= n })
}

// waitOp waits until an entry with op was delivered.
func (f *follower) waitOp(t *testing.T, within time.Duration, op string) []core.Entry {
	t.Helper()
	return f.waitFor(t, within, fmt.Sprintf("entry %q", op), func(es []core.Entry) bool {
		for i := len(es) - 1; i >= 0; i-- {
			if string(es[i].Op) == op {
				return true
			}
		}
		return false
	})
}

// appended is what Append stored: the id it returned and the op.
type appended struct {
	id, op string
}

// mustAppend appends op and fails the test when Append fails.
func mustAppend(t *testing.T, l core.Log, op string) appended {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	id, err := l.Append(ctx, []byte(op))
	if err != nil {
		t.Fatalf("Append(%q): %v", op, err)
	}
	if id == "" {
		t.Fatalf("Append(%q) returned an empty id", op)
	}
	return appended{id: id, op: op}
}

// appendN appends n ops named prefix-0, prefix-1…
func appendN(t *testing.T, l core.Log, prefix string, n int) []appended {
	t.Helper()
	out := make([]appended, n)
	for i := range out {
		out[i] = mustAppend(t, l, prefix+"-"+strconv.Itoa(i))
	}
	return out
}

// barrier appends a marker op and waits until f has it: every entry
// appended before it has been delivered by then, so the caller can compare
// everything f delivered with what it expects, duplicates included.
func barrier(t *testing.T, l core.Log, f *follower) ([]core.Entry, appended) {
	t.Helper()
	b := mustAppend(t, l, "barrier-"+f.name)
	return f.waitOp(t, waitTimeout, b.op), b
}

// checkEntries fails the test unless got is exactly want, in order.
func checkEntries(t *testing.T, who string, got []core.Entry, want []appended) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].ID == want[i].id && string(got[i].Op) == want[i].op
	}
	if !ok {
		t.Fatalf("%s delivered %d entries, want %d:\n got: %s\nwant: %s", who, len(got), len(want), describe(got), describeAppended(want))
	}
}

func describe(es []core.Entry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.ID + "=" + string(e.Op)
	}
	return shorten(parts)
}

func describeAppended(as []appended) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.id + "=" + a.op
	}
	return shorten(parts)
}

// shorten joins parts, eliding the middle of a long list.
func shorten(parts []string) string {
	const keep = 8
	if len(parts) > 2*keep {
		parts = append(append(parts[:keep:keep], fmt.Sprintf("…%d more…", len(parts)-2*keep)), parts[len(parts)-keep:]...)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// ctxFor returns a ctx bounded by callTimeout, cancelled at cleanup.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}
