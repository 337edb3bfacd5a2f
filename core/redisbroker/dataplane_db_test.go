package redisbroker_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// Two clusters on two databases of one server, with the same key prefix,
// do not hear each other: pub/sub knows no databases, so the shard
// channels carry the database's number.
func TestDataPlaneDatabasesDoNotHearEachOther(t *testing.T) {
	srv := redistest.Start(t)
	dps := []*redisbroker.DataPlane{
		newDataPlaneAt(t, "redis://"+srv.Addr()+"/1", coretest.DataPlaneOptions{}),
		newDataPlaneAt(t, "redis://"+srv.Addr()+"/2", coretest.DataPlaneOptions{}),
	}
	st := core.Stream{Name: "room"}
	var mu sync.Mutex
	heard := make([][]string, len(dps))
	for i, d := range dps {
		sub := d.NewSubscriber(func(e core.StreamEntry) {
			mu.Lock()
			defer mu.Unlock()
			heard[i] = append(heard[i], string(e.Data))
		}, nil)
		t.Cleanup(func() { _ = sub.Close() })
		if err := sub.Add(ctxFor(t), st); err != nil {
			t.Fatalf("Add on db %d: %v", i+1, err)
		}
	}
	// The server writes each entry to every subscribed connection before
	// the next: once db 1 heard z, it would have heard y before.
	for _, p := range []struct {
		db   int
		data string
	}{{0, "x"}, {1, "y"}, {0, "z"}} {
		if _, err := dps[p.db].Publish(ctxFor(t), []core.Publication{{Stream: st, Data: []byte(p.data)}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := fmt.Sprint(heard)
		done := slices.Contains(heard[0], "z") && slices.Contains(heard[1], "y")
		mu.Unlock()
		if done {
			if want := "[[x z] [y]]"; got != want {
				t.Fatalf("heard %s, want %s", got, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("heard %s within 5s, want [[x z] [y]]", got)
		}
		time.Sleep(time.Millisecond)
	}
}
