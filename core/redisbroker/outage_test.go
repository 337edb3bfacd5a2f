package redisbroker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// checkUnavailable fails the test unless err wraps core.ErrUnavailable and
// starts with prefix.
func checkUnavailable(t *testing.T, what string, err error, prefix string) {
	t.Helper()
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("%s returned %v, want an error wrapping core.ErrUnavailable", what, err)
	}
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("%s returned %q, want it to start with %q", what, err, prefix)
	}
}

func TestCallsWhileRedisIsStoppedFailUnavailableQuickly(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	id := mustAppend(t, l, "before")
	srv.Stop()

	const quickly = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	calls := []struct {
		name, prefix string
		call         func() error
	}{
		{"Append", "append", func() error { _, err := l.Append(ctx, []byte("x")); return err }},
		{"SaveSnapshot", "save snapshot", func() error { return l.SaveSnapshot(ctx, id, []byte("s")) }},
		{"LoadSnapshot", "load snapshot", func() error { _, _, err := l.LoadSnapshot(ctx); return err }},
		{"Ping", "ping", func() error { return l.Ping(ctx) }},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call()
		if took := time.Since(start); took > quickly {
			t.Errorf("%s took %v with Redis stopped, want under %v", c.name, took, quickly)
		}
		checkUnavailable(t, c.name, err, c.prefix)
		if c.name == "Append" && !errors.Is(err, core.ErrNotStored) {
			t.Errorf("Append with Redis stopped = %v, want core.ErrNotStored: the command never left", err)
		}
	}
}

func TestAppendWhileRedisHangsTimesOutUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	cfg := fastConfig
	cfg.CommandTimeout = 300 * time.Millisecond
	l := newLog(t, srv, cfg)
	mustAppend(t, l, "before")
	srv.Pause()

	start := time.Now()
	_, err := l.Append(context.Background(), []byte("x"))
	took := time.Since(start)
	checkUnavailable(t, "Append", err, "append")
	if errors.Is(err, core.ErrNotStored) {
		t.Errorf("Append to a frozen Redis = %v: the command was written and may be served later, so not core.ErrNotStored", err)
	}
	if took > 2*time.Second {
		t.Errorf("Append took %v with Redis frozen, want about CommandTimeout (%v)", took, cfg.CommandTimeout)
	}

	// The caller's deadline bounds the call too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = l.Append(ctx, []byte("y"))
	checkUnavailable(t, "Append with a short deadline", err, "append")
	if took := time.Since(start); took > time.Second {
		t.Errorf("Append with a 50ms deadline took %v", took)
	}

	srv.Resume()
	appendEventually(t, l, "after")
}

func TestPingFailsWhileStoppedAndWorksAfterRestart(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	if err := l.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	srv.Stop()
	checkUnavailable(t, "Ping", l.Ping(ctxFor(t)), "ping")
	srv.Restart()
	eventually(t, waitTimeout, "Ping after Restart", func() error { return l.Ping(ctxFor(t)) })
}

func TestFollowAcrossRestartDeliversEveryNewEntryOnce(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	r := follow(t, l, "")
	var want []string
	for _, op := range []string{"old-1", "old-2", "old-3"} {
		mustAppend(t, l, op)
		want = append(want, op)
	}
	r.waitOp(t, "old-3")

	srv.Stop()
	r.waitErr(t) // the blocked XREAD failed, and Follow said so
	srv.Restart()
	for _, op := range []string{"new-1", "new-2", "new-3", "new-4"} {
		appendEventually(t, l, op)
		want = append(want, op)
	}
	checkOps(t, r.waitOp(t, "new-4"), want)
	mustAppend(t, l, "end") // nothing more came in between
	checkOps(t, r.waitOp(t, "end"), append(want, "end"))
}

// A follower that delivered an entry with an id far ahead must still get
// the entries of a new stream, whose clock-based ids are below it.
func TestFollowAcrossRestartDeliversIDsBelowTheLastDelivered(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	raw := rawClient(t, srv)
	r := follow(t, l, "")
	mustAppend(t, l, "old")
	far := "99999999999999-0"
	if err := raw.XAdd(ctxFor(t), xaddFar(prefixFor(t), far, "far")).Err(); err != nil {
		t.Fatalf("XADD %s: %v", far, err)
	}
	r.waitOp(t, "far")

	srv.Restart()
	id := appendEventually(t, l, "new")
	if l.CompareIDs(id, far) >= 0 {
		t.Fatalf("new id %s is not below %s; the test proves nothing", id, far)
	}
	mustAppend(t, l, "end")
	checkOps(t, r.waitOp(t, "end"), []string{"old", "far", "new", "end"})
}

// A restart while fn runs leaves no error to notice (go-redis redials
// quietly); the epoch check must still see that the stream is new.
func TestFollowResumingAfterAnUnseenRestartDeliversTheNewStream(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	raw := rawClient(t, srv)
	r := follow(t, l, "")
	release := make(chan struct{})
	r.mu.Lock()
	r.hold = release // fn blocks on every entry until released
	r.mu.Unlock()
	far := "99999999999999-0"
	if err := raw.XAdd(ctxFor(t), xaddFar(prefixFor(t), far, "far")).Err(); err != nil {
		t.Fatalf("XADD %s: %v", far, err)
	}
	r.waitOp(t, "far") // fn is inside the call for "far"

	srv.Restart()
	for _, op := range []string{"new-1", "new-2"} {
		appendEventually(t, l, op)
	}
	r.mu.Lock()
	r.hold = nil
	r.mu.Unlock()
	close(release)
	mustAppend(t, l, "end")
	checkOps(t, r.waitOp(t, "end"), []string{"far", "new-1", "new-2", "end"})
}

func TestFollowStartedWhileRedisIsDownCatchesUp(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	srv.Stop()
	r := follow(t, l, "")
	r.waitErr(t)
	srv.Restart()
	appendEventually(t, l, "first")
	checkOps(t, r.waitOp(t, "first"), []string{"first"})
}
