package core_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// TestConcurrent runs publishers, subscribe/unsubscribe, state changes,
// connects and disconnects, attach/Next readers and the collector at once.
// Run with -race. Every reader checks each batch (seq order without
// duplicates or silent loss, across detach, resume and replacement).
func TestConcurrent(t *testing.T) {
	const (
		readers    = 8
		publishers = 4
		perPub     = 300
	)
	channels := []string{"c0", "c1", "c2", "c3"}
	clk := &clock{t: t0}
	h := core.New(core.Config{
		Now:         clk.Now,
		QueueFrames: 32, // small enough that slow readers really happen
		GCInterval:  time.Millisecond,
		ConnTimeout: 15 * time.Second,
	})
	h.ConfigureChannels(t.Context(), map[string]core.ChannelConfig{
		"c0": channelCfg(func(c *core.ChannelConfig) { c.NotifyPresence, c.BroadcastPresenceWithUserLists = true, true }),
		"c1": channelCfg(func(c *core.ChannelConfig) { c.NotifyState, c.StoreHistory = true, true }),
	})

	ctx, cancel := context.WithCancel(t.Context())
	var bg sync.WaitGroup // everything that runs until cancel
	t.Cleanup(func() { cancel(); bg.Wait() })
	errc := make(chan error, 100)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}

	// The collector, on a clock that moves 100 ms per millisecond: conns
	// that nobody touches go after about 150 ms.
	bg.Go(func() { _ = h.Run(ctx) })
	bg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				clk.Add(100 * time.Millisecond)
			}
		}
	})

	var (
		rs       []*client
		received atomic.Int64
	)
	for i := range readers {
		rs = append(rs, connect(t, h, fmt.Sprintf("r%d", i%5), channels[i%len(channels)]))
	}
	for i, c := range rs {
		bg.Go(func() { readLoop(ctx, h, c, i, &received, report) })
	}

	var work sync.WaitGroup // the finite workload
	for p := range publishers {
		work.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 1))
			var sent []string
			for i := range perPub {
				m := msg(channels[rng.IntN(len(channels))], fmt.Sprintf("p%d-%d", p, i))
				switch r := rng.IntN(10); {
				case r == 0:
					m.Channel, m.PMUsers = "", []string{fmt.Sprintf("r%d", rng.IntN(5))}
				case r == 1 && len(sent) > 0:
					m = edit(m.Channel, sent[rng.IntN(len(sent))], `{"text":"edited"}`)
				case r == 2 && len(sent) > 0:
					m = del(m.Channel, sent[rng.IntN(len(sent))])
				case r == 3:
					m.ExcludeUsers = []string{"r1"}
				}
				sent = append(sent, m.UUID)
				h.Publish(ctx, []core.Message{m})
			}
		})
	}
	work.Go(func() { // membership and state churn
		rng := rand.New(rand.NewPCG(99, 1))
		for i := range 300 {
			c := rs[rng.IntN(len(rs))]
			p := core.SubscribeParams{ConnID: c.ID, Channels: []string{channels[rng.IntN(len(channels))]}, Info: core.DefaultInfoOptions()}
			var err error
			if i%2 == 0 {
				_, err = h.Subscribe(ctx, p)
			} else {
				_, err = h.Unsubscribe(ctx, p)
			}
			if err != nil && !errors.Is(err, core.ErrUnknownConn) {
				report(err)
			}
			_, err = h.SetUserState(ctx, core.UserStateParams{User: c.User, State: core.State{"i": fmt.Sprint(i)}})
			if err != nil && !errors.Is(err, core.ErrUnknownUser) {
				report(err)
			}
		}
	})
	work.Go(func() { // short-lived conns: disconnected, or left to the collector
		for i := range 200 {
			res, err := h.Connect(ctx, core.ConnectParams{Username: fmt.Sprintf("tmp%d", i%20), Channels: channels[:2]})
			if err != nil {
				report(err)
				continue
			}
			if i%3 == 0 {
				h.Disconnect(ctx, res.ConnID)
			}
		}
	})
	work.Go(func() { // readers of the whole hub
		for range 100 {
			h.Info(ctx, core.DefaultInfoOptions())
			h.Admin(ctx)
		}
	})
	work.Wait()
	waitUntil(t, testDeadline, "the collector to remove abandoned conns", func() bool {
		return h.Stats().CollectedConns.Load() > 0
	})

	// Every reader that survived still gets a message sent to it now.
	for _, c := range rs {
		m := msg("", "final")
		m.PMUsers = []string{c.User}
		h.Publish(ctx, []core.Message{m})
	}
	waitUntil(t, testDeadline, "readers to take the final messages", func() bool {
		for _, c := range rs {
			if c.alive.Load() && !c.final.Load() {
				return false
			}
		}
		return true
	})
	cancel()
	bg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if received.Load() == 0 {
		t.Error("no reader received anything")
	}
	t.Logf("delivered %d frames, %d slow disconnects, %d collected",
		received.Load(), h.Stats().SlowDisconnects.Load(), h.Stats().CollectedConns.Load())
}

// readLoop is a transport: it attaches, takes batches, heartbeats, and
// now and then detaches and comes back (resuming or not). It stops when
// the hub removes its connection or ctx ends.
func readLoop(ctx context.Context, h *core.Hub, c *client, id int, received *atomic.Int64, report func(error)) {
	c.alive.Store(true)
	defer c.alive.Store(false)
	rng := rand.New(rand.NewPCG(uint64(id), 2))
	attach := func(opts core.AttachOptions) bool {
		s, err := h.Attach(c.ID, opts)
		if errors.Is(err, core.ErrUnknownConn) {
			return false
		}
		if err != nil {
			report(err)
			return false
		}
		if opts.Resume {
			c.pos = opts.LastSeq
		}
		c.sess = s
		return true
	}
	if !attach(core.AttachOptions{}) {
		return
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var buf []byte
	for batches := 0; ; {
		select {
		case <-ctx.Done():
			c.sess.Detach()
			return
		case <-tick.C:
			c.sess.Touch()
			continue
		case <-c.sess.Done():
			switch r := c.sess.Reason(); r {
			case core.DisconnectGone:
				return
			case core.DisconnectSlow:
				if !attach(core.AttachOptions{Resume: true, LastSeq: c.pos}) {
					return
				}
			default:
				report(fmt.Errorf("%s: session ended with %v", c.User, r))
				return
			}
		case <-c.sess.Ready():
		}
		c.sess.Touch()
		out, n, last := c.sess.Next(buf[:0], 1+rng.IntN(8))
		buf = out
		if n == 0 {
			continue
		}
		frames, err := c.check(out, n, last)
		if err != nil {
			report(err)
			return
		}
		received.Add(int64(len(frames)))
		for _, f := range frames {
			if f.text() == "final" {
				c.final.Store(true)
			}
		}
		batches++
		switch {
		case batches%7 == 0:
			c.sess.Ack(last)
		case batches%11 == 0:
			c.sess.Detach()
			if !attach(core.AttachOptions{Resume: true, LastSeq: c.pos}) {
				return
			}
		case batches%13 == 0:
			c.sess.Detach()
			if !attach(core.AttachOptions{}) {
				return
			}
		}
	}
}
