package coretest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// DataPlaneOptions are the settings a DataPlaneSuite asks of a new data
// plane; a zero field means the implementation's default.
type DataPlaneOptions struct {
	// MaxLen is how many entries each stream keeps at least (an
	// implementation may keep a few more before it trims).
	MaxLen int
	// MaxAge is how old an entry may get before a publish to its stream
	// trims it.
	MaxAge time.Duration
}

// DataPlaneSuite is the conformance suite of core.DataPlane.
type DataPlaneSuite struct {
	// New returns a new, empty DataPlane with the options, and releases it
	// with t.Cleanup. Subtests run in parallel, so the data planes it
	// returns must not share streams or history. Required.
	New func(t *testing.T, o DataPlaneOptions) core.DataPlane
	// Disconnect, when set, breaks the backend connections of d's
	// subscribers (they must heal by themselves); it may break those of
	// other data planes on the same backend too.
	Disconnect func(t *testing.T, d core.DataPlane)
	// Reset, when set, makes d's backend lose every entry and the history,
	// as a Redis that restarted empty does.
	Reset func(t *testing.T, d core.DataPlane)
}

// TestDataPlane runs the core.DataPlane conformance suite against the data
// planes newDP returns (see DataPlaneSuite.New).
func TestDataPlane(t *testing.T, newDP func(t *testing.T, o DataPlaneOptions) core.DataPlane) {
	DataPlaneSuite{New: newDP}.Run(t)
}

// dpCase is one subtest of the suite.
type dpCase struct {
	name string
	run  func(t *testing.T, s DataPlaneSuite)
	// needs names the optional hook the case needs ("disconnect", "reset").
	needs string
}

var dpCases = []dpCase{
	{name: "partition is PartitionOf", run: testDPPartition},
	{name: "publish numbers each partition in order", run: testDPPublishOrder},
	{name: "publish refuses a bad history effect and stores nothing", run: testDPPublishRefuses},
	{name: "heads are join points", run: testDPHeads},
	{name: "read returns later entries of the stream only", run: testDPRead},
	{name: "read pages with a limit", run: testDPReadLimit},
	{name: "count retention trims and read says so", run: testDPTrimCount},
	{name: "age retention trims and read says so", run: testDPTrimAge},
	{name: "read after the newest trimmed entry is not trimmed", run: testDPTrimInterleaved},
	{name: "history applies sends edits and deletes", run: testDPHistory},
	{name: "histories reads many channels at once as history does", run: testDPHistories},
	{name: "subscriber gets referenced streams only, once, in order", run: testDPSubscribe},
	{name: "subscriber counts references", run: testDPRefcount},
	{name: "concurrent publishers reach a subscriber once each in order", run: testDPConcurrent},
	{name: "ping succeeds while the backend is reachable", run: testDPPing},
	{name: "cursors are saved, replaced, loaded and expire", run: testDPCursors},
	{name: "subscriber heals a broken connection by catching up", run: testDPHeal, needs: "disconnect"},
	{name: "a healed subscriber skips what was published without a reference", run: testDPHealSkipsUnreferenced, needs: "disconnect"},
	{name: "a backend that lost its data changes the epoch", run: testDPReset, needs: "reset"},
}

// Run runs the suite as parallel subtests of t.
func (s DataPlaneSuite) Run(t *testing.T) {
	t.Helper()
	if s.New == nil {
		t.Fatal("coretest: DataPlaneSuite.New is nil")
	}
	for _, c := range dpCases {
		t.Run(c.name, func(t *testing.T) {
			if (c.needs == "disconnect" && s.Disconnect == nil) || (c.needs == "reset" && s.Reset == nil) {
				t.Skipf("the implementation gave no %s hook", c.needs)
			}
			t.Parallel()
			c.run(t, s)
		})
	}
}

// Streams used by the cases.
func channel(name string) core.Stream { return core.Stream{Kind: core.ChannelStream, Name: name} }
func user(name string) core.Stream    { return core.Stream{Kind: core.UserStream, Name: name} }

// samePartition returns n channel streams of d that share one partition.
func samePartition(d core.DataPlane, n int) []core.Stream {
	var out []core.Stream
	want := -1
	for i := 0; len(out) < n; i++ {
		s := channel(fmt.Sprintf("room-%d", i))
		if p := d.Partition(s); want < 0 || p == want {
			want = p
			out = append(out, s)
		}
	}
	return out
}

// otherPartitions returns n channel streams of d in n distinct partitions
// (n at most d.Partitions()).
func otherPartitions(d core.DataPlane, n int) []core.Stream {
	var out []core.Stream
	seen := map[int]bool{}
	for i := 0; len(out) < n; i++ {
		s := channel(fmt.Sprintf("hall-%d", i))
		if p := d.Partition(s); !seen[p] {
			seen[p] = true
			out = append(out, s)
		}
	}
	return out
}

// publish publishes one entry per stream, data "<stream name>#<i>", and
// returns the positions.
func publish(t *testing.T, d core.DataPlane, tag string, streams ...core.Stream) []core.Pos {
	t.Helper()
	pubs := make([]core.Publication, len(streams))
	for i, s := range streams {
		pubs[i] = core.Publication{Stream: s, Data: []byte(s.Name + "#" + tag)}
	}
	pos, err := d.Publish(ctxFor(t), pubs)
	if err != nil {
		t.Fatalf("Publish %s: %v", tag, err)
	}
	if len(pos) != len(pubs) {
		t.Fatalf("Publish of %d returned %d positions", len(pubs), len(pos))
	}
	return pos
}

// read reads s after pos with no limit.
func read(t *testing.T, d core.DataPlane, s core.Stream, after core.Pos) core.ReadResult {
	t.Helper()
	res, err := d.Read(ctxFor(t), s, after, 0)
	if err != nil {
		t.Fatalf("Read %q after %+v: %v", s.Name, after, err)
	}
	return res
}

// datas returns the entries' data as strings.
func datas(es []core.StreamEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.Data)
	}
	return out
}

// collector gathers what a Subscriber delivers.
type collector struct {
	mu      sync.Mutex
	entries []core.StreamEntry
	errs    []error
	// running counts fn calls in progress per partition (must stay <= 1).
	running map[int]int
	overlap bool
}

func newCollector() *collector { return &collector{running: map[int]int{}} }

func (c *collector) fn(e core.StreamEntry) {
	c.mu.Lock()
	c.running[e.Pos.Partition]++
	if c.running[e.Pos.Partition] > 1 {
		c.overlap = true
	}
	c.mu.Unlock()
	e.Data = slices.Clone(e.Data)
	c.mu.Lock()
	c.entries = append(c.entries, e)
	c.running[e.Pos.Partition]--
	c.mu.Unlock()
}

func (c *collector) onErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

func (c *collector) got() []core.StreamEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.entries)
}

// subscribe returns a Subscriber of d feeding a new collector, closed at
// cleanup, with a reference to each stream.
func subscribe(t *testing.T, d core.DataPlane, streams ...core.Stream) (core.Subscriber, *collector) {
	t.Helper()
	c := newCollector()
	sub := d.NewSubscriber(c.fn, c.onErr)
	t.Cleanup(func() { _ = sub.Close() })
	for _, s := range streams {
		if err := sub.Add(ctxFor(t), s); err != nil {
			t.Fatalf("Add %q: %v", s.Name, err)
		}
	}
	return sub, c
}

// waitData waits until the collector holds entries whose data are want,
// in want's order for each stream (data "<stream name>#<tag>"; streams of
// different partitions may interleave); it fails on anything else.
func (c *collector) waitData(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := datas(c.got())
		if len(got) == len(want) && slices.Equal(byStream(got), byStream(want)) {
			c.checkOverlap(t)
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("subscriber got %s, want %s", shorten(got), shorten(want))
		}
		time.Sleep(pollEvery)
	}
}

// byStream sorts data by stream name, keeping each stream's order.
func byStream(data []string) []string {
	out := slices.Clone(data)
	slices.SortStableFunc(out, func(a, b string) int {
		return strings.Compare(a[:strings.IndexByte(a, '#')], b[:strings.IndexByte(b, '#')])
	})
	return out
}

func (c *collector) checkOverlap(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.overlap {
		t.Error("fn was called twice at once for one partition")
	}
}

// checkOrder fails unless es, per partition, have growing N in one epoch.
func checkOrder(t *testing.T, es []core.StreamEntry) {
	t.Helper()
	last := map[int]uint64{}
	for _, e := range es {
		if e.Pos.N <= last[e.Pos.Partition] {
			t.Fatalf("partition %d: entry %d delivered after %d", e.Pos.Partition, e.Pos.N, last[e.Pos.Partition])
		}
		last[e.Pos.Partition] = e.Pos.N
	}
}

// pollEvery is how often the data plane cases look for a delivery (each
// wait is bounded by waitTimeout).
const pollEvery = 2 * time.Millisecond
