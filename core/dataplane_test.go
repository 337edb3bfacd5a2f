package core_test

import (
	"hash/fnv"
	"strconv"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

func TestPartitionOfIsFNV1aModP(t *testing.T) {
	for _, s := range []core.Stream{
		{Kind: core.ChannelStream, Name: "room"},
		{Kind: core.UserStream, Name: "room"},
		{Kind: core.ChannelStream, Name: ""},
		{Kind: core.UserStream, Name: "ünïcode"},
	} {
		h := fnv.New64a()
		if s.Kind == core.UserStream {
			h.Write([]byte("u:"))
		}
		h.Write([]byte(s.Name))
		for _, p := range []int{1, 7, 16, 1024} {
			if got, want := core.PartitionOf(s, p), int(h.Sum64()%uint64(p)); got != want {
				t.Errorf("PartitionOf(%+v, %d) = %d, want %d", s, p, got, want)
			}
		}
	}
}

func TestPartitionOfSpreadsNames(t *testing.T) {
	const p, n = 16, 1600
	var count [p]int
	for i := range n {
		count[core.PartitionOf(core.Stream{Name: "channel-" + strconv.Itoa(i)}, p)]++
	}
	for k, c := range count {
		if c < n/p/2 || c > n/p*2 {
			t.Errorf("partition %d got %d of %d names, want about %d", k, c, n, n/p)
		}
	}
}
