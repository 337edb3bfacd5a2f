package redisbroker_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

func TestDataPlaneOutageFailsUnavailableAndHealsWithAGap(t *testing.T) {
	t.Parallel() // a Redis of its own
	srv := redistest.Start(t)
	d := newDataPlaneAt(t, srv.URL(), coretest.DataPlaneOptions{})
	ch := core.Stream{Name: "outage"}
	var mu sync.Mutex
	var got []core.StreamEntry
	var errs []error
	sub := d.NewSubscriber(func(e core.StreamEntry) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
	}, func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	})
	t.Cleanup(func() { _ = sub.Close() })
	if err := sub.Add(ctxFor(t), ch); err != nil {
		t.Fatalf("Add: %v", err)
	}
	before, err := d.Publish(ctxFor(t), []core.Publication{{Stream: ch, Data: []byte("before")}})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}

	eventually(t, waitTimeout, "the entry before the outage arrives", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 {
			return errors.New("not yet")
		}
		return nil
	})

	srv.Stop()
	_, err = d.Publish(ctxFor(t), []core.Publication{{Stream: ch, Data: []byte("lost")}})
	if !errors.Is(err, core.ErrUnavailable) || !errors.Is(err, core.ErrNotStored) {
		t.Fatalf("Publish while Redis is down: %v, want ErrUnavailable and ErrNotStored", err)
	}
	for name, call := range map[string]func() error{
		"Heads":         func() error { _, err := d.Heads(ctxFor(t), []core.Stream{ch}); return err },
		"Read":          func() error { _, err := d.Read(ctxFor(t), ch, core.Pos{}, 0); return err },
		"History":       func() error { _, err := d.History(ctxFor(t), ch.Name); return err },
		"DeleteHistory": func() error { return d.DeleteHistory(ctxFor(t), ch.Name) },
		"Ping":          func() error { return d.Ping(ctxFor(t)) },
		"Add":           func() error { return sub.Add(ctxFor(t), core.Stream{Name: "other"}) },
		"SaveCursor": func() error {
			return d.SaveCursor(ctxFor(t), "conn", []byte("1"), time.Minute)
		},
		"LoadCursor": func() error { _, err := d.LoadCursor(ctxFor(t), "conn"); return err },
	} {
		if err := call(); !errors.Is(err, core.ErrUnavailable) {
			t.Errorf("%s while Redis is down: %v, want ErrUnavailable", name, err)
		}
	}

	srv.Restart() // empty: new epochs
	eventually(t, waitTimeout, "the subscriber reconnects", func() error {
		// Publish until the subscriber, reconnected, delivers one.
		if _, err := d.Publish(ctxFor(t), []core.Publication{{Stream: ch, Data: []byte("after")}}); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) < 2 {
			return errors.New("nothing delivered after the restart yet")
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	first := got[1]
	if string(got[0].Data) != "before" || string(first.Data) != "after" || !first.Gap || first.Pos.Epoch == before[0].Epoch {
		t.Fatalf("delivered %q then %+v; want before, then after marked Gap in a new epoch", got[0].Data, first)
	}
	if len(errs) == 0 {
		t.Fatal("onErr was not told of the outage")
	}
}

// TestDataPlaneSubscriberOutlivesAFrozenRedis freezes Redis (SIGSTOP: the
// connections stay open, nothing answers) long enough for the subscriber
// to give its connection up, publishes meanwhile, and resumes it: every
// entry the stream holds afterwards arrives once, in order, none marked
// Gap.
func TestDataPlaneSubscriberOutlivesAFrozenRedis(t *testing.T) {
	t.Parallel() // a Redis of its own
	srv := redistest.Start(t)
	d := newDataPlaneAt(t, srv.URL(), coretest.DataPlaneOptions{})
	ch := core.Stream{Name: "frozen"}
	var mu sync.Mutex
	var got []core.StreamEntry
	failed := make(chan error, 100)
	sub := d.NewSubscriber(func(e core.StreamEntry) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
	}, func(err error) {
		select {
		case failed <- err:
		default:
		}
	})
	t.Cleanup(func() { _ = sub.Close() })
	if err := sub.Add(ctxFor(t), ch); err != nil {
		t.Fatalf("Add: %v", err)
	}
	publish := func(data string) {
		_, _ = d.Publish(ctxFor(t), []core.Publication{{Stream: ch, Data: []byte(data)}})
	}
	publish("before")
	srv.Pause()
	publish("frozen") // times out; Redis runs it when it wakes up
	// Two block timeouts (1 s each here) without an answer to its PING:
	// the subscriber gives the connection up and tells onErr.
	select {
	case err := <-failed:
		t.Logf("the subscriber gave up: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("the subscriber did not notice the frozen Redis")
	}
	publish("frozen too")
	srv.Resume()
	var final core.ReadResult
	eventually(t, waitTimeout, "every stored entry arrives", func() error {
		publish("after")
		res, err := d.Read(ctxFor(t), ch, core.Pos{}, 0)
		if err != nil {
			return err
		}
		final = res
		mu.Lock()
		defer mu.Unlock()
		if len(got) < len(res.Entries) {
			return errors.New("not all delivered yet")
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(final.Entries) {
		t.Fatalf("delivered %d entries, the stream holds %d", len(got), len(final.Entries))
	}
	for i, e := range got {
		if e.Pos != final.Entries[i].Pos || e.Gap {
			t.Fatalf("entry %d delivered %+v, stored %+v", i, e, final.Entries[i])
		}
	}
}
