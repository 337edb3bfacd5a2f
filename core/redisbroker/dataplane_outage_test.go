package redisbroker_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

func TestDataPlaneOutageFailsUnavailableAndHealsWithAGap(t *testing.T) {
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
		"Heads":   func() error { _, err := d.Heads(ctxFor(t), []core.Stream{ch}); return err },
		"Read":    func() error { _, err := d.Read(ctxFor(t), ch, core.Pos{}, 0); return err },
		"History": func() error { _, err := d.History(ctxFor(t), ch.Name); return err },
		"Ping":    func() error { return d.Ping(ctxFor(t)) },
		"Add":     func() error { return sub.Add(ctxFor(t), core.Stream{Name: "other"}) },
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
