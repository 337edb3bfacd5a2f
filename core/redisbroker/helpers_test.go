package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

const (
	// waitTimeout bounds every wait of these tests.
	waitTimeout = 10 * time.Second
	// callTimeout is the ctx deadline of one call.
	callTimeout = 5 * time.Second
)

// fastConfig makes outages quick to notice and to recover from.
var fastConfig = redisbroker.Config{
	DialTimeout:    time.Second,
	CommandTimeout: time.Second,
	MaxBackoff:     100 * time.Millisecond,
}

// prefixes holds each test's key prefix: its name and a number, so that a
// test run again (-count) on the shared cluster starts with no keys.
var prefixes struct {
	sync.Mutex
	of   map[testing.TB]string
	next int
}

// prefixFor is a key prefix of the test's own.
func prefixFor(t testing.TB) string {
	prefixes.Lock()
	defer prefixes.Unlock()
	if p, ok := prefixes.of[t]; ok {
		return p
	}
	if prefixes.of == nil {
		prefixes.of = map[testing.TB]string{}
	}
	prefixes.next++
	p := fmt.Sprintf("test:%s:%d:", t.Name(), prefixes.next)
	prefixes.of[t] = p
	t.Cleanup(func() {
		prefixes.Lock()
		defer prefixes.Unlock()
		delete(prefixes.of, t)
	})
	return p
}

// newLog returns a Log on srv under the test's own key prefix, closed at
// cleanup.
func newLog(t testing.TB, srv *redistest.Server, cfg redisbroker.Config) *redisbroker.Log {
	t.Helper()
	cfg.URL = srv.URL()
	return newLogAt(t, cfg)
}

// newLogAt returns a Log at cfg.URL under the test's own key prefix,
// closed at cleanup.
func newLogAt(t testing.TB, cfg redisbroker.Config) *redisbroker.Log {
	t.Helper()
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = prefixFor(t)
	}
	l, err := redisbroker.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// rawClient is a plain go-redis client on srv, to look at the keys.
func rawClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls check until it returns nil, failing the test with its
// last error after within.
func eventually(t testing.TB, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustAppend appends op, failing the test on error.
func mustAppend(t testing.TB, l core.Log, op string) string {
	t.Helper()
	id, err := l.Append(ctxFor(t), []byte(op))
	if err != nil {
		t.Fatalf("Append(%q): %v", op, err)
	}
	return id
}

// recorder records one Follow call.
type recorder struct {
	changed chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc

	mu      sync.Mutex
	entries []core.Entry
	errs    []error
	hold    chan struct{} // when set, fn waits on it before returning
}

// follow runs l.Follow from after in a goroutine until cleanup.
func follow(t testing.TB, l core.Log, after string) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{changed: make(chan struct{}, 1), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(r.done)
		if err := l.Follow(ctx, after, r.deliver, r.fail); err != nil {
			t.Errorf("Follow returned %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(waitTimeout):
			t.Errorf("Follow did not return within %v of cancel", waitTimeout)
		}
	})
	return r
}

func (r *recorder) deliver(e core.Entry) {
	r.mu.Lock()
	r.entries = append(r.entries, e)
	hold := r.hold
	r.mu.Unlock()
	r.signal()
	if hold != nil {
		<-hold
	}
}

func (r *recorder) fail(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() ([]core.Entry, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]core.Entry(nil), r.entries...), append([]error(nil), r.errs...)
}

// waitFor waits until ok holds for what was recorded.
func (r *recorder) waitFor(t testing.TB, what string, ok func([]core.Entry, []error) bool) []core.Entry {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		es, errs := r.snapshot()
		if ok(es, errs) {
			return es
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("no %s within %v; delivered %d entries %v, %d errors", what, waitTimeout, len(es), ops(es), len(errs))
		}
	}
}

// waitOp waits until op was delivered.
func (r *recorder) waitOp(t testing.TB, op string) []core.Entry {
	t.Helper()
	return r.waitFor(t, "entry "+op, func(es []core.Entry, _ []error) bool {
		return len(es) > 0 && string(es[len(es)-1].Op) == op
	})
}

// waitErr waits until onErr was called, and checks that the errors wrap
// core.ErrUnavailable.
func (r *recorder) waitErr(t testing.TB) {
	t.Helper()
	r.waitFor(t, "onErr call", func(_ []core.Entry, errs []error) bool { return len(errs) > 0 })
	_, errs := r.snapshot()
	for _, err := range errs {
		if !errors.Is(err, core.ErrUnavailable) {
			t.Errorf("onErr got %v, which does not wrap core.ErrUnavailable", err)
		}
	}
}

func ops(es []core.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.Op)
	}
	return out
}

// checkOps fails the test unless the delivered ops are exactly want.
func checkOps(t testing.TB, es []core.Entry, want []string) {
	t.Helper()
	got := ops(es)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %d ops %v\nwant %d ops %v", len(got), got, len(want), want)
	}
}

// appendEventually appends op, retrying while Redis comes back.
func appendEventually(t testing.TB, l core.Log, op string) string {
	t.Helper()
	var id string
	eventually(t, waitTimeout, "Append "+op, func() error {
		var err error
		id, err = l.Append(ctxFor(t), []byte(op))
		return err
	})
	return id
}
