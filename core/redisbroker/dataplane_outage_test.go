package redisbroker_test

import (
	"errors"
	"fmt"
	"slices"
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
	marks := 0 // reset marks (N 0)
	sub := d.NewSubscriber(func(e core.StreamEntry) {
		mu.Lock()
		defer mu.Unlock()
		if e.Pos.N == 0 {
			marks++
			return
		}
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
		"Histories":     func() error { _, err := d.Histories(ctxFor(t), []string{ch.Name, "other"}); return err },
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
	if string(got[0].Data) != "before" || string(first.Data) != "after" || first.Pos.Epoch == before[0].Epoch {
		t.Fatalf("delivered %q then %+v; want before, then after in a new epoch", got[0].Data, first)
	}
	// A reset mark when the subscriber caught up before "after" was
	// published, else "after" marked Gap: the loss told once.
	if first.Gap == (marks > 0) || marks > 1 {
		t.Fatalf("%d reset marks, after marked Gap %v; want the loss told once", marks, first.Gap)
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
	l, sub := newEntryLog(t, d)
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
	case err := <-l.failed:
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
		if len(l.entries()) < len(res.Entries) {
			return errors.New("not all delivered yet")
		}
		return nil
	})
	got := l.entries()
	if len(got) != len(final.Entries) {
		t.Fatalf("delivered %d entries, the stream holds %d", len(got), len(final.Entries))
	}
	for i, e := range got {
		if e.Pos != final.Entries[i].Pos || e.Gap {
			t.Fatalf("entry %d delivered %+v, stored %+v", i, e, final.Entries[i])
		}
	}
}

// TestDataPlaneSubscriberCatchUpPastTrimsMarksNoGap keeps the subscriber
// away (its connection killed, SSUBSCRIBE denied by ACL) while the one
// stream it follows gets a full MaxLen of entries, each after an entry of
// another stream of the partition: retention trims only entries the
// subscriber delivered, so the catch-up delivers the new ones, none
// marked Gap, though the stream's oldest kept entry is no longer the one
// just after what it delivered.
func TestDataPlaneSubscriberCatchUpPastTrimsMarksNoGap(t *testing.T) {
	t.Parallel() // a Redis of its own: the ACL change is server-wide
	const maxLen = 4
	srv := redistest.Start(t)
	d := newDataPlaneAt(t, srv.URL(), coretest.DataPlaneOptions{MaxLen: maxLen})
	a := core.Stream{Name: "followed"}
	var b core.Stream
	for i := 0; b.Name == ""; i++ {
		if s := (core.Stream{Name: fmt.Sprintf("other%d", i)}); d.Partition(s) == d.Partition(a) {
			b = s
		}
	}
	l, sub := newEntryLog(t, d)
	if err := sub.Add(ctxFor(t), a); err != nil {
		t.Fatalf("Add: %v", err)
	}
	var pubs []core.Publication
	for i := range maxLen {
		pubs = append(pubs, core.Publication{Stream: a, Data: []byte(fmt.Sprint("old", i))})
	}
	if _, err := d.Publish(ctxFor(t), pubs); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	delivered := func(n int) func() error {
		return func() error {
			if got := len(l.entries()); got < n {
				return fmt.Errorf("%d of %d entries delivered", got, n)
			}
			return nil
		}
	}
	eventually(t, waitTimeout, "the first entries arrive", delivered(maxLen))

	acl := func(rule string) {
		if _, err := redistest.Command(srv.Addr(), "ACL", "SETUSER", "default", rule); err != nil {
			t.Fatalf("ACL SETUSER default %s: %v", rule, err)
		}
	}
	acl("-ssubscribe")
	if _, err := redistest.Command(srv.Addr(), "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatalf("CLIENT KILL: %v", err)
	}
	select {
	case err := <-l.failed:
		t.Logf("the subscriber is away: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("the subscriber did not notice its connection was killed")
	}
	pubs = pubs[:0]
	for i := range maxLen {
		pubs = append(pubs, core.Publication{Stream: b, Data: []byte("between")},
			core.Publication{Stream: a, Data: []byte(fmt.Sprint("new", i))})
	}
	if _, err := d.Publish(ctxFor(t), pubs); err != nil {
		t.Fatalf("Publish while the subscriber is away: %v", err)
	}
	acl("+ssubscribe")
	eventually(t, waitTimeout, "the catch-up delivers the new entries", delivered(2*maxLen))

	got := l.entries()
	if len(got) != 2*maxLen {
		t.Fatalf("delivered %d entries, want %d", len(got), 2*maxLen)
	}
	for i, e := range got {
		want := fmt.Sprint("old", i)
		if i >= maxLen {
			want = fmt.Sprint("new", i-maxLen)
		}
		if string(e.Data) != want || e.Gap {
			t.Errorf("entry %d: %q, gap %v; want %q, no gap (only delivered entries were trimmed)", i, e.Data, e.Gap, want)
		}
	}
}

// entryLog keeps what a Subscriber under test delivers, and sends its
// failures (the first 100) on failed.
type entryLog struct {
	mu     sync.Mutex
	got    []core.StreamEntry
	failed chan error
}

// newEntryLog returns a Subscriber of d that reports to a new entryLog,
// closed at cleanup.
func newEntryLog(t *testing.T, d core.DataPlane) (*entryLog, core.Subscriber) {
	l := &entryLog{failed: make(chan error, 100)}
	sub := d.NewSubscriber(func(e core.StreamEntry) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.got = append(l.got, e)
	}, func(err error) {
		select {
		case l.failed <- err:
		default:
		}
	})
	t.Cleanup(func() { _ = sub.Close() })
	return l, sub
}

// entries returns what the Subscriber delivered so far.
func (l *entryLog) entries() []core.StreamEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}
