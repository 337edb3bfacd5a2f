package redisbroker_test

import (
	"context"
	"fmt"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
)

// A node appends its operations and applies every entry, its own included,
// in log order. (Not run: it needs a Redis.)
func ExampleNew() {
	l, err := redisbroker.New(redisbroker.Config{URL: "redis://127.0.0.1:6379/0", KeyPrefix: "cluster-a:"})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	after, _, err := l.LoadSnapshot(ctx) // restore the state it describes first
	if err != nil {
		panic(err)
	}
	go l.Follow(ctx, after, func(e core.Entry) {
		fmt.Printf("apply %s: %s\n", e.ID, e.Op)
	}, func(err error) {
		fmt.Println("log unavailable, retrying:", err)
	})
	if _, err := l.Append(ctx, []byte(`{"op":"publish"}`)); err != nil {
		fmt.Println("refuse the change:", err) // errors.Is(err, core.ErrUnavailable): answer 503
	}
}

// A node of a Redis Cluster publishes to a channel and listens to the
// streams of the connections it holds. (Not run: it needs a Redis.)
func ExampleNewDataPlane() {
	d, err := redisbroker.NewDataPlane(redisbroker.Config{
		URL:       "redis+cluster://10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379",
		KeyPrefix: "cluster-a:",
	})
	if err != nil {
		panic(err)
	}
	defer d.Close()
	ctx := context.Background()
	room := core.Stream{Kind: core.ChannelStream, Name: "room"}

	sub := d.NewSubscriber(func(e core.StreamEntry) {
		fmt.Printf("deliver %v n=%d gap=%v: %s\n", e.Stream, e.Pos.N, e.Gap, e.Data)
	}, func(err error) {
		fmt.Println("redis unavailable, healing:", err)
	})
	defer sub.Close()
	if err := sub.Add(ctx, room); err != nil {
		fmt.Println("refuse the attachment:", err) // errors.Is(err, core.ErrUnavailable): 503
	}
	if _, err := d.Publish(ctx, []core.Publication{{Stream: room, Data: []byte(`{"message":"hi"}`)}}); err != nil {
		fmt.Println("refuse the message:", err)
	}
}
