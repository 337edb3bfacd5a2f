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
