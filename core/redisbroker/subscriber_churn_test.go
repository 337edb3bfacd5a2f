package redisbroker_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// TestSubscriberAddRightAfterRemoveIsNoFailure: a stream's last
// reference dropped and taken again before the server's reply to the
// SUNSUBSCRIBE was read is no loss of the stream (no reconnection, no
// error reported).
func TestSubscriberAddRightAfterRemoveIsNoFailure(t *testing.T) {
	t.Parallel() // a Redis of its own
	srv := redistest.Start(t)
	d := newDataPlaneAt(t, srv.URL(), coretest.DataPlaneOptions{})
	raw := rawClient(t, srv)
	ctx := ctxFor(t)
	s := core.Stream{Name: "churn"}
	entries := make(chan string, 16)
	release := make(chan struct{})
	var failures atomic.Int32
	sub := d.NewSubscriber(func(e core.StreamEntry) {
		entries <- string(e.Data)
		if string(e.Data) == "hold" {
			<-release // the connection's goroutine reads no reply meanwhile
		}
	}, func(err error) {
		failures.Add(1)
		t.Logf("subscriber failure: %v", err)
	})
	t.Cleanup(func() { _ = sub.Close() })
	if err := sub.Add(ctx, s); err != nil {
		t.Fatal(err)
	}
	publishData := func(data string) {
		t.Helper()
		if _, err := d.Publish(ctx, []core.Publication{{Stream: s, Data: []byte(data)}}); err != nil {
			t.Fatal(err)
		}
	}
	publishData("hold")
	if got := <-entries; got != "hold" {
		t.Fatalf("got %q", got)
	}
	sub.Remove(s)
	added := make(chan error, 1)
	go func() { added <- sub.Add(ctx, s) }()
	// The server has the new SSUBSCRIBE (after the SUNSUBSCRIBE): the
	// subscriber has the new reference.
	eventually(t, 5*time.Second, "the new subscription", func() error {
		chans, err := raw.Do(ctx, "pubsub", "shardchannels").StringSlice()
		if err != nil {
			return err
		}
		for _, c := range chans {
			if strings.HasSuffix(c, ":c:churn") {
				return nil
			}
		}
		return fmt.Errorf("shard channels %v", chans)
	})
	close(release)
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	publishData("after")
	if got := <-entries; got != "after" {
		t.Fatalf("got %q, want after", got)
	}
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d subscriber failures, want none", n)
	}
}
