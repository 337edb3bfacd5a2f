package core_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/channelstream-go/channelstream-go/core"
)

// A node takes a join point, subscribes the streams of the connections it
// holds, publishes, and catches a resuming connection up from its position.
func ExampleMemoryDataPlane() {
	ctx := context.Background()
	d := &core.MemoryDataPlane{NumPartitions: 4}
	room := core.Stream{Kind: core.ChannelStream, Name: "room"}

	join, _ := d.Heads(ctx, []core.Stream{room}) // before the connection joins
	got := make(chan core.StreamEntry, 10)
	sub := d.NewSubscriber(func(e core.StreamEntry) { got <- e }, nil)
	defer sub.Close()
	_ = sub.Add(ctx, room)

	pos, _ := d.Publish(ctx, []core.Publication{
		{Stream: room, Data: []byte(`{"message":"hi"}`), History: core.HistoryOp{
			Kind: core.HistoryAppend, ID: "m1", Limit: 10,
			Fields: map[string]json.RawMessage{"message": json.RawMessage(`"hi"`)},
		}},
		{Stream: room, Data: []byte(`{"message":"hi!"}`), History: core.HistoryOp{
			Kind: core.HistoryEdit, ID: "m1",
			Fields: map[string]json.RawMessage{"message": json.RawMessage(`"hi!"`)},
		}},
	})
	fmt.Println("partition", pos[0].Partition, "n", pos[0].N, pos[1].N, "after the join point", join[0].N)
	for range 2 {
		e := <-got
		fmt.Printf("live %d %s\n", e.Pos.N, e.Data)
	}

	// A connection that had the first entry resumes: read after it.
	res, _ := d.Read(ctx, room, pos[0], 0)
	fmt.Printf("catch-up %d entries, trimmed %v: %s\n", len(res.Entries), res.Trimmed, res.Entries[0].Data)

	h, _ := d.History(ctx, "room")
	fmt.Printf("history %s %s\n", h[0].ID, h[0].Fields["message"])
	// Output:
	// partition 2 n 1 2 after the join point 0
	// live 1 {"message":"hi"}
	// live 2 {"message":"hi!"}
	// catch-up 1 entries, trimmed false: {"message":"hi!"}
	// history m1 "hi!"
}
