package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// newLingeringDataPlane is a DataPlane on srv whose publishes linger.
func newLingeringDataPlane(t *testing.T, srv *redistest.Server, linger time.Duration) *redisbroker.DataPlane {
	t.Helper()
	cfg := fastConfig
	cfg.URL, cfg.KeyPrefix, cfg.PublishLinger = srv.URL(), prefixFor(t), linger
	d, err := redisbroker.NewDataPlane(cfg)
	if err != nil {
		t.Fatalf("NewDataPlane: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// scriptCalls is how many EVALSHA calls srv ran since its stats were reset.
func scriptCalls(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	out, err := redistest.Command(srv.Addr(), "INFO", "commandstats")
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	_, rest, ok := strings.Cut(out, "cmdstat_evalsha:calls=")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	if err != nil {
		t.Fatalf("INFO commandstats: %v in %q", err, out)
	}
	return n
}

// With PublishLinger, calls arriving while the first one lingers go with it
// in one script call, each at its own position; the first waits the linger.
func TestDataPlanePublishLingerGathersOneBatch(t *testing.T) {
	const callers, linger = 16, 2 * time.Second
	srv := redistest.Start(t)
	d := newLingeringDataPlane(t, srv, linger)
	st := core.Stream{Kind: core.ChannelStream, Name: "lingered"}
	// Load the script (its first call may be an EVAL), then count from zero.
	if _, err := d.Publish(ctxFor(t), []core.Publication{{Stream: core.Stream{Name: "warm"}, Data: []byte("w")}}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if _, err := redistest.Command(srv.Addr(), "CONFIG", "RESETSTAT"); err != nil {
		t.Fatalf("CONFIG RESETSTAT: %v", err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	pos := make([]core.Pos, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			var out []core.Pos
			out, errs[i] = d.Publish(ctxFor(t), []core.Publication{{Stream: st, Data: fmt.Appendf(nil, "m%d", i)}})
			if len(out) == 1 {
				pos[i] = out[0]
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); took < linger {
		t.Errorf("the publishes took %v, less than the linger %v", took, linger)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if n := scriptCalls(t, srv); n != 1 {
		t.Errorf("%d calls arriving within the linger ran %d scripts, want 1", callers, n)
	}
	res, err := d.Read(ctxFor(t), st, core.Pos{}, 0)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(res.Entries) != callers {
		t.Fatalf("the stream holds %d entries, want %d", len(res.Entries), callers)
	}
	for _, e := range res.Entries {
		i, err := strconv.Atoi(strings.TrimPrefix(string(e.Data), "m"))
		if err != nil || pos[i] != e.Pos {
			t.Errorf("entry %q at %v; its call was given %v", e.Data, e.Pos, pos[i])
		}
	}
}

// A call whose ctx ends while it waits in a lingering batch leaves it:
// it fails with ErrNotStored and nothing of it is stored; the batch goes
// without it.
func TestDataPlanePublishLingerCancelledCallNotStored(t *testing.T) {
	srv := redistest.Start(t)
	d := newLingeringDataPlane(t, srv, 2*time.Second)
	st := core.Stream{Kind: core.ChannelStream, Name: "lingered"}
	// A call lingers only when the previous one came less than the linger before.
	if _, err := d.Publish(ctxFor(t), []core.Publication{{Stream: core.Stream{Name: "warm"}, Data: []byte("w")}}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := d.Publish(ctxFor(t), []core.Publication{{Stream: st, Data: []byte("kept")}})
		first <- err
	}()
	waitGathering(t, d, 1)
	ctx, cancel := context.WithCancel(ctxFor(t))
	second := make(chan error, 1)
	go func() {
		_, err := d.Publish(ctx, []core.Publication{{Stream: st, Data: []byte("cancelled")}})
		second <- err
	}()
	waitGathering(t, d, 2)
	cancel()
	if err := <-second; !errors.Is(err, core.ErrNotStored) {
		t.Fatalf("cancelled call: %v, want ErrNotStored", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first call: %v", err)
	}
	res, err := d.Read(ctxFor(t), st, core.Pos{}, 0)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(res.Entries) != 1 || string(res.Entries[0].Data) != "kept" {
		t.Fatalf("the stream holds %v, want only the first call's entry", res.Entries)
	}
}

// waitGathering waits until the lingering batch of d holds n calls.
func waitGathering(t *testing.T, d *redisbroker.DataPlane, n int) {
	t.Helper()
	eventually(t, time.Second, fmt.Sprintf("%d calls in the lingering batch", n), func() error {
		if got := d.GatheringCalls(); got != n {
			return fmt.Errorf("%d", got)
		}
		return nil
	})
}

// A call that comes more than the linger after the previous one (here the
// first one) goes at once: no one would join its batch.
func TestDataPlanePublishLingerNotWhenCallsAreApart(t *testing.T) {
	const linger = 5 * time.Second
	srv := redistest.Start(t)
	d := newLingeringDataPlane(t, srv, linger)
	start := time.Now()
	if _, err := d.Publish(ctxFor(t), []core.Publication{{Stream: core.Stream{Name: "lone"}, Data: []byte("x")}}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if took := time.Since(start); took >= linger {
		t.Fatalf("a lone publish took %v: it lingered", took)
	}
}
