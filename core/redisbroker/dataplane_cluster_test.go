package redisbroker_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// TestDataPlaneSurvivesAMasterRestart restarts one master of a cluster of
// its own (it comes back empty, with its slots): the subscriber's
// connection to it heals (still one per master), entries of its partitions come with Gap in a new
// epoch, and the other masters' partitions lose nothing.
func TestDataPlaneSurvivesAMasterRestart(t *testing.T) {
	t.Parallel() // a Redis of its own
	c := redistest.StartCluster(t)
	d := newDataPlaneAt(t, c.URL(), coretest.DataPlaneOptions{})
	var mu sync.Mutex
	got := map[core.Stream][]core.StreamEntry{}
	marks := map[core.Stream]int{} // reset marks (N 0)
	sub := d.NewSubscriber(func(e core.StreamEntry) {
		mu.Lock()
		defer mu.Unlock()
		if e.Pos.N == 0 {
			marks[e.Stream]++
			return
		}
		got[e.Stream] = append(got[e.Stream], e)
	}, nil)
	t.Cleanup(func() { _ = sub.Close() })
	// One channel per partition.
	var streams []core.Stream
	seen := map[int]bool{}
	for i := 0; len(streams) < d.Partitions(); i++ {
		s := core.Stream{Name: "m-" + strconv.Itoa(i)}
		if k := d.Partition(s); !seen[k] {
			seen[k] = true
			streams = append(streams, s)
			if err := sub.Add(ctxFor(t), s); err != nil {
				t.Fatalf("Add: %v", err)
			}
		}
	}
	publishAll := func(tag string) []core.Pos {
		pubs := make([]core.Publication, len(streams))
		for i, s := range streams {
			pubs[i] = core.Publication{Stream: s, Data: []byte(tag)}
		}
		pos, err := d.Publish(ctxFor(t), pubs)
		if err != nil {
			return nil
		}
		return pos
	}
	received := func(tag string) error {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range streams {
			es := got[s]
			if len(es) == 0 || string(es[len(es)-1].Data) != tag {
				return fmt.Errorf("%v has not got %q yet", s, tag)
			}
		}
		return nil
	}
	for _, a := range c.Addrs() {
		if n := pubsubClients(t, a); n != 1 {
			t.Fatalf("%s: %d pub/sub connections for partitions of every master, want 1 per master", a, n)
		}
	}
	before := publishAll("before")
	if before == nil {
		t.Fatal("Publish before the restart failed")
	}
	eventually(t, waitTimeout, "every stream gets the entry before the restart", func() error { return received("before") })

	c.Servers[0].Restart()
	c.WaitOK()
	var after []core.Pos
	eventually(t, waitTimeout, "every stream gets an entry after the restart", func() error {
		if after = publishAll("after"); after == nil {
			return errors.New("Publish failed")
		}
		return received("after")
	})
	for _, a := range c.Addrs() {
		if n := pubsubClients(t, a); n != 1 {
			t.Errorf("%s: %d pub/sub connections after the restart, want 1", a, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	restarted := 0
	for i, s := range streams {
		es := got[s]
		first := es[1] // the first entry after "before"
		if string(es[0].Data) != "before" || string(first.Data) != "after" {
			t.Fatalf("%v got %q then %q", s, es[0].Data, first.Data)
		}
		switch {
		case after[i].Epoch != before[i].Epoch:
			// A reset mark when the catch-up had no entry of the
			// stream, else the entry marked Gap: the loss told once.
			restarted++
			if first.Gap == (marks[s] > 0) || marks[s] > 1 {
				t.Errorf("%v: %d reset marks, the first entry in the new epoch marked Gap %v; want the loss told once", s, marks[s], first.Gap)
			}
		case first.Gap || marks[s] > 0:
			t.Errorf("%v: marked Gap (%v) or reset (%d marks) though its master kept its data", s, first.Gap, marks[s])
		}
	}
	if restarted == 0 || restarted == len(streams) {
		t.Fatalf("%d of %d partitions changed epoch; want those of one master", restarted, len(streams))
	}
}
