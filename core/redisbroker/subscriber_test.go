package redisbroker_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// pubsubClients is how many pub/sub connections the server at addr has.
func pubsubClients(t testing.TB, addr string) int {
	t.Helper()
	list, err := redistest.Command(addr, "CLIENT", "LIST", "TYPE", "pubsub")
	if err != nil {
		t.Fatalf("CLIENT LIST on %s: %v", addr, err)
	}
	return strings.Count(list, "\n")
}

// TestSubscriberHoldsOneConnectionForEveryPartition: streams of every
// partition share one pub/sub connection to one server, and a burst of
// entries of every partition reaches the subscriber in each partition's
// order.
func TestSubscriberHoldsOneConnectionForEveryPartition(t *testing.T) {
	t.Parallel() // a Redis of its own
	srv := redistest.Start(t)
	d := newDataPlaneAt(t, srv.URL(), coretest.DataPlaneOptions{})
	var mu sync.Mutex
	got := map[int][]core.StreamEntry{}
	sub := d.NewSubscriber(func(e core.StreamEntry) {
		mu.Lock()
		defer mu.Unlock()
		got[e.Pos.Partition] = append(got[e.Pos.Partition], e)
	}, func(err error) { t.Errorf("subscriber failure: %v", err) })
	t.Cleanup(func() { _ = sub.Close() })
	var streams []core.Stream
	seen := map[int]bool{}
	for i := 0; len(streams) < d.Partitions(); i++ {
		s := core.Stream{Kind: core.UserStream, Name: "u-" + strconv.Itoa(i)}
		if k := d.Partition(s); !seen[k] {
			seen[k] = true
			streams = append(streams, s)
			if err := sub.Add(ctxFor(t), s); err != nil {
				t.Fatalf("Add: %v", err)
			}
		}
	}
	if n := pubsubClients(t, srv.Addr()); n != 1 {
		t.Fatalf("%d pub/sub connections for %d partitions, want 1", n, len(streams))
	}
	const rounds = 20
	var pubs []core.Publication
	for r := range rounds {
		for _, s := range streams {
			pubs = append(pubs, core.Publication{Stream: s, Data: []byte(strconv.Itoa(r))})
		}
	}
	if _, err := d.Publish(ctxFor(t), pubs); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitTimeout, "every entry", func() error {
		mu.Lock()
		defer mu.Unlock()
		for k := range d.Partitions() {
			if len(got[k]) < rounds {
				return fmt.Errorf("partition %d got %d of %d entries", k, len(got[k]), rounds)
			}
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for k, es := range got {
		for i, e := range es {
			if string(e.Data) != strconv.Itoa(i) || e.Gap {
				t.Fatalf("partition %d: entry %d is %q (gap %v)", k, i, e.Data, e.Gap)
			}
		}
	}
}
