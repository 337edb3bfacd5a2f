package redisbroker_test

import (
	"context"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// BenchmarkAppendFollow measures one round trip through Redis: Append, then
// the entry reaching a follower that waits in XREAD BLOCK (on a local
// redis-server; add the network's round trips in production).
func BenchmarkAppendFollow(b *testing.B) {
	srv := redistest.Start(b)
	l := newLog(b, srv, redisbroker.Config{})
	got := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Follow(ctx, "", func(core.Entry) { got <- struct{}{} }, nil)
	}()
	b.Cleanup(func() { cancel(); <-done })
	op := make([]byte, 200) // about a small published message
	append1 := func() {
		if _, err := l.Append(ctx, op); err != nil {
			b.Fatalf("Append: %v", err)
		}
		select {
		case <-got:
		case <-time.After(waitTimeout):
			b.Fatal("the follower did not get the entry")
		}
	}
	append1() // the follower is running
	b.ReportAllocs()
	for b.Loop() {
		append1()
	}
}

// BenchmarkAppend measures Append alone, from parallel goroutines.
func BenchmarkAppend(b *testing.B) {
	srv := redistest.Start(b)
	l := newLog(b, srv, redisbroker.Config{})
	op := make([]byte, 200)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(context.Background(), op); err != nil {
				b.Errorf("Append: %v", err)
				return
			}
		}
	})
}
