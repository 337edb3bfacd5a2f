package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// gate holds up the calls that pass it while it is shut: a test shuts it,
// waits until a call is held (held), makes something happen meanwhile,
// and opens it.
type gate struct {
	mu      sync.Mutex
	holding bool          // new calls are held
	once    bool          // only the next one
	shut    chan struct{} // the held calls wait for it to close
	heldC   chan struct{}
}

func newGate() *gate { return &gate{heldC: make(chan struct{}, 64)} }

func (g *gate) close() { g.shutFor(false) }

// closeNext shuts the gate for the next call only.
func (g *gate) closeNext() { g.shutFor(true) }

func (g *gate) shutFor(once bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut == nil {
		g.shut = make(chan struct{})
	}
	g.holding, g.once = true, once
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut != nil {
		close(g.shut)
		g.shut = nil
	}
	g.holding = false
}

// pass waits while the gate is shut.
func (g *gate) pass() {
	g.mu.Lock()
	if !g.holding {
		g.mu.Unlock()
		return
	}
	shut := g.shut
	if g.once {
		g.holding = false
	}
	g.mu.Unlock()
	g.heldC <- struct{}{}
	<-shut
}

// held waits until a call is held at the gate.
func (g *gate) held(t *testing.T) {
	t.Helper()
	select {
	case <-g.heldC:
	case <-t.Context().Done():
		t.Fatal("nothing came to the gate")
	}
}

// gatedDP is a DataPlane whose Reads (before and after reading),
// Subscriber Adds and Subscriber deliveries pass a gate each, so that a test can order them with what
// it publishes (the backend underneath is real).
type gatedDP struct {
	core.DataPlane
	read, readDone, add, deliver, heads *gate
	// failAdd, when set as an Add starts, says whether it fails (after
	// its gate).
	failAdd atomic.Pointer[func(core.Stream) bool]
}

func newGatedDP(dp core.DataPlane) *gatedDP {
	return &gatedDP{DataPlane: dp, read: newGate(), readDone: newGate(), add: newGate(), deliver: newGate(), heads: newGate()}
}

func (g *gatedDP) Read(ctx context.Context, s core.Stream, after core.Pos, limit int) (core.ReadResult, error) {
	g.read.pass()
	res, err := g.DataPlane.Read(ctx, s, after, limit)
	g.readDone.pass()
	return res, err
}

func (g *gatedDP) Heads(ctx context.Context, streams []core.Stream) ([]core.Pos, error) {
	g.heads.pass()
	return g.DataPlane.Heads(ctx, streams)
}

func (g *gatedDP) NewSubscriber(fn func(core.StreamEntry), onErr func(error)) core.Subscriber {
	sub := g.DataPlane.NewSubscriber(func(e core.StreamEntry) { g.deliver.pass(); fn(e) }, onErr)
	return gatedSub{Subscriber: sub, g: g}
}

type gatedSub struct {
	core.Subscriber
	g *gatedDP
}

// errAddFailed is what an Add fails with when gatedDP.failAdd says so.
var errAddFailed = fmt.Errorf("gated add: %w", core.ErrUnavailable)

func (s gatedSub) Add(ctx context.Context, st core.Stream) error {
	f := s.g.failAdd.Load() // as it is when the call starts
	s.g.add.pass()
	if f != nil && (*f)(st) {
		return errAddFailed
	}
	return s.Subscriber.Add(ctx, st)
}

// onePartitionNode is one data-plane hub on a MemoryDataPlane of one
// partition (every stream shares it) behind gates.
func onePartitionNode(t *testing.T, cfg core.Config) (*node, *gatedDP) {
	t.Helper()
	g := newGatedDP(&core.MemoryDataPlane{NumPartitions: 1})
	nodes := newDPCluster(t, dpBackend{log: core.NewMemoryLog(), dp: g}, 1, cfg)
	return nodes[0], g
}

func pmTo(user, text string) core.Message {
	m := msg("", text)
	m.PMUsers = []string{user}
	return m
}

func TestDataPlaneAttachKeepsLiveEntriesOfEveryStreamDuringTheCatchUp(t *testing.T) {
	n, g := onePartitionNode(t, core.Config{})
	c := connect(t, n.Hub, "alice", "a", "b")
	g.readDone.close()
	type attached struct {
		s   *core.Session
		err error
	}
	done := make(chan attached, 1)
	go func() {
		s, err := n.Attach(c.ID, core.AttachOptions{Transport: "test"})
		done <- attached{s, err}
	}()
	g.readDone.held(t)
	// Live entries of three streams of the partition while the attach
	// reads: they wait in the catch-up's buffer.
	publish(n.Hub, msg("a", "1"))
	publish(n.Hub, msg("b", "2"))
	publish(n.Hub, pmTo("alice", "3"))
	publish(n.Hub, msg("a", "4"))
	waitUntil(t, testDeadline, "the live entries", func() bool { return n.DPReceived() == 4 })
	g.readDone.open()
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	c.sess = a.s
	wantTexts(t, "alice", c.waitFor(t, 4, testDeadline), []string{"1", "2", "3", "4"})
	c.expectNothing(t)
}
func TestDataPlaneSubscribeWhileHeldGetsWhatOtherStreamsOvertook(t *testing.T) {
	n, g := onePartitionNode(t, core.Config{})
	c := listen(t, n.Hub, "alice", "a")
	g.add.close()
	if _, err := n.Subscribe(t.Context(), core.SubscribeParams{ConnID: c.ID, Channels: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	g.add.held(t) // the worker takes x's reference
	publish(n.Hub, msg("x", "x1"))
	publish(n.Hub, msg("a", "a1")) // live, after x1 in the partition
	waitUntil(t, testDeadline, "a1 live", func() bool { return n.DPReceived() == 1 })
	// a1 waits for x's catch-up: handed out first, its position would
	// make a cursor claim x1 (see TestDataPlaneCursorDoesNotPassAStreamStillCatchingUp).
	c.expectNothing(t)
	g.add.open()
	wantTexts(t, "alice", c.waitFor(t, 2, testDeadline), []string{"x1", "a1"})
	publish(n.Hub, msg("x", "x2"))
	wantTexts(t, "alice", c.waitFor(t, 1, testDeadline), []string{"x2"})
	c.expectNothing(t)
}
func TestDataPlaneSubscribeWhileHeldDoesNotRepeatWhatItRead(t *testing.T) {
	n, g := onePartitionNode(t, core.Config{})
	c := listen(t, n.Hub, "alice", "a")
	g.read.close()
	if _, err := n.Subscribe(t.Context(), core.SubscribeParams{ConnID: c.ID, Channels: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	g.read.held(t) // x's reference is taken: its entries come live too
	g.deliver.close()
	publish(n.Hub, msg("x", "x1"))
	g.deliver.held(t) // the live copy is on its way
	g.read.open()     // the read has x1
	wantTexts(t, "alice", c.waitFor(t, 1, testDeadline), []string{"x1"})
	g.deliver.open()
	publish(n.Hub, msg("x", "x2"))
	wantTexts(t, "alice", c.waitFor(t, 1, testDeadline), []string{"x2"})
	c.expectNothing(t)
}

func TestDataPlaneAFailedAttachLeavesTheOneThatReplacedItRouted(t *testing.T) {
	n, g := onePartitionNode(t, core.Config{})
	c := connect(t, n.Hub, "alice", "a")
	attach := func(opts core.AttachOptions) chan error {
		errc := make(chan error, 1)
		go func() {
			s, err := n.Attach(c.ID, opts)
			if err == nil {
				c.sess = s
			}
			errc <- err
		}()
		return errc
	}
	g.add.close()
	fail := func(core.Stream) bool { return true }
	g.failAdd.Store(&fail)
	first := attach(core.AttachOptions{Transport: "test"})
	g.add.held(t)
	g.failAdd.Store(nil)
	// A second attachment replaces the first while its Add runs (a
	// client that resumes after frames this node never queued); then
	// the first one's Add fails.
	second := attach(core.AttachOptions{Transport: "test", Resume: true, LastSeq: 5})
	g.add.held(t)
	g.add.open()
	if err := <-first; !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("first attach: %v, want ErrUnavailable", err)
	}
	if err := <-second; err != nil {
		t.Fatalf("second attach: %v", err)
	}
	c.pos = 5
	publish(n.Hub, msg("a", "1"))
	wantTexts(t, "alice", c.waitFor(t, 1, testDeadline), []string{"1"})
}

func TestDataPlaneLastSeqNewerThanAnyReleaseStartsFromNow(t *testing.T) {
	eachDataPlane(t, nil, func(t *testing.T, b dpBackend) {
		nodes := newDPCluster(t, b, 2, core.Config{})
		c := listen(t, nodes[0].Hub, "alice", "c")
		publishTexts(t, nodes[0].Hub, "c", numbered(0, 3)...)
		c.waitFor(t, 3, testDeadline)
		// Its node never released it (as if it died): a client with
		// only a last_seq resumes elsewhere.
		c.hub = nodes[1].Hub
		c.attach(t, core.AttachOptions{Transport: "test", Resume: true, LastSeq: c.pos})
		publishTexts(t, nodes[0].Hub, "c", "live")
		wantTexts(t, "alice on node1", c.waitFor(t, 1, testDeadline), []string{"live"})
		c.expectNothing(t)
	})
}

func TestDataPlaneCatchUpBuffersAtMostAQueueOfLiveEntries(t *testing.T) {
	n, g := onePartitionNode(t, core.Config{QueueFrames: 10})
	c := connect(t, n.Hub, "alice", "a")
	g.readDone.close()
	errc := make(chan error, 1)
	go func() {
		s, err := n.Attach(c.ID, core.AttachOptions{Transport: "test"})
		c.sess = s
		errc <- err
	}()
	g.readDone.held(t)
	publishTexts(t, n.Hub, "a", numbered(0, 30)...)
	waitUntil(t, testDeadline, "the live entries", func() bool { return n.DPReceived() == 30 })
	if got := n.DPBuffered(c.ID); got > 10 {
		t.Errorf("the catch-up buffers %d live entries, want at most the queue's 10", got)
	}
	g.readDone.open()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	wantTexts(t, "alice", c.waitFor(t, 10, testDeadline), numbered(20, 30))
	c.expectNothing(t)
}

func TestDataPlaneSubscribeDuringAnAttachIsFollowed(t *testing.T) {
	n, g := onePartitionNode(t, core.Config{})
	c := connect(t, n.Hub, "alice", "a")
	// A resume past anything released reads the streams' heads before
	// it holds the connection: a subscribe applied meanwhile.
	g.heads.closeNext()
	errc := make(chan error, 1)
	go func() {
		s, err := n.Attach(c.ID, core.AttachOptions{Transport: "test", Resume: true, LastSeq: 5})
		c.sess = s
		errc <- err
	}()
	g.heads.held(t)
	if _, err := n.Subscribe(t.Context(), core.SubscribeParams{ConnID: c.ID, Channels: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	g.heads.open()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	c.pos = 5
	publish(n.Hub, msg("x", "x1"))
	wantTexts(t, "alice", c.waitFor(t, 1, testDeadline), []string{"x1"})
}

// resubscribeDuringAnAttach attaches alice (channel a) on n while, as the
// attachment takes its references, she leaves a and joins it again (a
// second Add of a starts).
func resubscribeDuringAnAttach(t *testing.T, n *node, g *gatedDP) *client {
	t.Helper()
	c := connect(t, n.Hub, "alice", "a")
	g.add.close()
	errc := make(chan error, 1)
	go func() {
		s, err := n.Attach(c.ID, core.AttachOptions{Transport: "test"})
		c.sess = s
		errc <- err
	}()
	g.add.held(t)
	sub := core.SubscribeParams{ConnID: c.ID, Channels: []string{"a"}}
	if _, err := n.Unsubscribe(t.Context(), sub); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Subscribe(t.Context(), sub); err != nil {
		t.Fatal(err)
	}
	g.add.held(t)
	g.add.open()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDataPlaneResubscribeDuringAnAttachKeepsEveryStream(t *testing.T) {
	n, g := onePartitionNode(t, core.Config{})
	c := resubscribeDuringAnAttach(t, n, g)
	publish(n.Hub, msg("a", "1"))
	publish(n.Hub, pmTo("alice", "2"))
	// Two streams: a may still be caught up (the second Add's read)
	// while the private message comes live.
	got := texts(c.waitFor(t, 2, testDeadline))
	if slices.Sort(got); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("alice got %v, want 1 and 2", got)
	}
}

func TestDataPlaneResubscribeDuringAnAttachLeavesNoReference(t *testing.T) {
	n, g := onePartitionNode(t, core.Config{})
	c := resubscribeDuringAnAttach(t, n, g)
	publish(n.Hub, msg("a", "1"))
	wantTexts(t, "alice", c.waitFor(t, 1, testDeadline), []string{"1"})
	c.sess.Detach()
	waitUntil(t, testDeadline, "the release", func() bool { return !n.DPHeld(c.ID) })

	// The node holds nothing: a's entries no longer reach it (once the
	// release dropped its references). bob's frame on b, after a's in
	// the partition, says when they would have.
	bob := listen(t, n.Hub, "bob", "b")
	waitUntil(t, testDeadline, "a's entries to stop", func() bool {
		before := n.DPReceived()
		publish(n.Hub, msg("a", "x"))
		publish(n.Hub, msg("b", "y"))
		wantTexts(t, "bob", bob.waitFor(t, 1, testDeadline), []string{"y"})
		return n.DPReceived()-before == 1
	})
}

func TestDataPlaneAwayFailsUnavailableAndChangesNothing(t *testing.T) {
	dp := core.NewMemoryDataPlane()
	n := newDPCluster(t, dpBackend{log: core.NewMemoryLog(), dp: dp}, 1, core.Config{})[0]
	alice := listen(t, n.Hub, "alice", "a")
	bob := connect(t, n.Hub, "bob", "a")
	streams := n.DPStreams()
	dp.SetDown(true)
	unavailable := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("%s with the data plane away: %v, want ErrUnavailable", what, err)
		}
	}
	unavailable("publish", n.Publish(t.Context(), []core.Message{msg("a", "lost")}))
	_, err := n.Connect(t.Context(), core.ConnectParams{Username: "carol", ConnID: "c0ffee00-0000-4000-8000-000000000001", Channels: []string{"a"}})
	unavailable("connect", err)
	_, err = n.Subscribe(t.Context(), core.SubscribeParams{ConnID: alice.ID, Channels: []string{"x"}})
	unavailable("subscribe", err)
	_, err = n.Attach(bob.ID, core.AttachOptions{Transport: "test"})
	unavailable("attach", err)
	if n.HasConn("c0ffee00-0000-4000-8000-000000000001") || n.DPHeld(bob.ID) || n.DPStreams() != streams {
		t.Fatalf("a refusal changed the node: carol %v, bob held %v, %d streams followed (want %d)",
			n.HasConn("c0ffee00-0000-4000-8000-000000000001"), n.DPHeld(bob.ID), n.DPStreams(), streams)
	}
	if got := channelNames(t, n.Hub); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("channels %v, want [a]", got)
	}
	dp.SetDown(false)
	bob.attach(t, core.AttachOptions{Transport: "test"})
	publish(n.Hub, msg("a", "back"))
	wantTexts(t, "alice", alice.waitFor(t, 1, testDeadline), []string{"back"})
	wantTexts(t, "bob", bob.waitFor(t, 1, testDeadline), []string{"back"})
}

// TestDataPlaneCursorDoesNotPassAStreamStillCatchingUp: alice holds a on
// node0 and subscribes to x; before x's catch-up has queued x1, a1 (after
// x1 in the partition) comes live. A cursor handed out then must not
// claim x1: alice, resuming on node1 with it, gets x1 exactly once.
func TestDataPlaneCursorDoesNotPassAStreamStillCatchingUp(t *testing.T) {
	g := newGatedDP(&core.MemoryDataPlane{NumPartitions: 1})
	nodes := newDPCluster(t, dpBackend{log: core.NewMemoryLog(), dp: g}, 2, core.Config{})
	c := listen(t, nodes[0].Hub, "alice", "a")
	g.add.close()
	if _, err := nodes[0].Subscribe(t.Context(), core.SubscribeParams{ConnID: c.ID, Channels: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	g.add.held(t) // node0's worker takes x's reference
	publish(nodes[0].Hub, msg("x", "x1"))
	publish(nodes[0].Hub, msg("a", "a1"))
	waitUntil(t, testDeadline, "a1 live on node0", func() bool { return nodes[0].DPReceived() == 1 })
	got := c.take(t) // a1, unless it waits for x's catch-up
	cursor := c.sess.Cursor()
	c.sess.Detach()
	g.add.open()
	cur, err := core.ParseCursor(cursor)
	if err != nil {
		t.Fatal(err)
	}
	c.hub = nodes[1].Hub
	c.attach(t, core.AttachOptions{Transport: "test", Resume: true, LastSeq: cur.Seq, Cursor: cursor})
	publish(nodes[0].Hub, msg("a", "a2"))
	got = append(got, c.waitFor(t, 3-len(got), testDeadline)...)
	all := texts(got)
	slices.Sort(all)
	if !slices.Equal(all, []string{"a1", "a2", "x1"}) {
		t.Fatalf("alice got %v (cursor %s taken after %v), want a1, x1 and a2 once each", texts(got), cursor, texts(got))
	}
	c.expectNothing(t)
}
