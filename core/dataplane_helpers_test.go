package core_test

import (
	"context"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
)

// boardFor returns a stats board for the nodes of a test on b: the
// Redis Log's, or a new one in memory.
func boardFor(b dpBackend) core.StatsBoard {
	if l, ok := b.log.(*redisbroker.Log); ok {
		return l.StatsBoard()
	}
	return core.NewMemoryStatsBoard()
}

// deletionsDP is a DataPlane that records (up to 64 of) the channels
// whose history was deleted.
type deletionsDP struct {
	core.DataPlane
	deleted chan string
	seen    []string // only deletions' caller touches it
}

func newDeletionsDP(dp core.DataPlane) *deletionsDP {
	return &deletionsDP{DataPlane: dp, deleted: make(chan string, 64)}
}

func (d *deletionsDP) DeleteHistory(ctx context.Context, channel string) error {
	select {
	case d.deleted <- channel:
	default:
	}
	return d.DataPlane.DeleteHistory(ctx, channel)
}

// deletions returns the channels deleted so far, in the order they were.
func (d *deletionsDP) deletions() []string {
	for {
		select {
		case name := <-d.deleted:
			d.seen = append(d.seen, name)
		default:
			return d.seen
		}
	}
}

// publishHistory publishes one message with a history effect to channel's
// stream, as the publishing node of a data-plane cluster does.
func publishHistory(t *testing.T, dp core.DataPlane, channel string, op core.HistoryOp) {
	t.Helper()
	pub := core.Publication{Stream: core.Stream{Kind: core.ChannelStream, Name: channel}, Data: []byte(`{}`), History: op}
	if _, err := dp.Publish(t.Context(), []core.Publication{pub}); err != nil {
		t.Fatalf("publish to %s: %v", channel, err)
	}
}
