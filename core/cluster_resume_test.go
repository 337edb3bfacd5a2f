package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// gatedLog holds back the entries one node follows while its gate is
// shut, as a node that lags behind (or restarts) does.
type gatedLog struct {
	core.Log
	mu   sync.Mutex
	shut bool
	cond *sync.Cond
}

func newGatedLog(l core.Log) *gatedLog {
	g := &gatedLog{Log: l}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gatedLog) set(shut bool) {
	g.mu.Lock()
	g.shut = shut
	g.mu.Unlock()
	g.cond.Broadcast()
}

func (g *gatedLog) Follow(ctx context.Context, after string, fn func(core.Entry), onErr func(error)) error {
	return g.Log.Follow(ctx, after, func(e core.Entry) {
		g.mu.Lock()
		for g.shut {
			g.cond.Wait()
		}
		g.mu.Unlock()
		fn(e)
	}, onErr)
}

// A client that read frames through one node and resumes on a node that
// has not applied them yet gets each frame once: the second node catches
// up before it attaches, instead of taking the resume point down to what
// it has and sending the frames in between again.
func TestClusterResumeOnALaggingNodeRepeatsNothing(t *testing.T) {
	mem := core.NewMemoryLog()
	gated := newGatedLog(mem)
	a := startNode(t, mem, core.Config{}, "nodeA")
	b := startNode(t, gated, core.Config{}, "nodeB")
	c := listen(t, a.Hub, "alice", "c")
	waitUntil(t, testDeadline, "node B to know the connection", func() bool { return b.HasConn(c.ID) })

	gated.set(true) // B falls behind
	for _, text := range []string{"one", "two", "three"} {
		if err := a.Publish(t.Context(), []core.Message{msg("c", text)}); err != nil {
			t.Fatal(err)
		}
	}
	got := c.waitFor(t, 3, testDeadline)
	last := got[len(got)-1].seq()

	go func() {
		time.Sleep(200 * time.Millisecond) // B catches up while the client attaches
		gated.set(false)
	}()
	c.hub = b.Hub
	c.attach(t, core.AttachOptions{Transport: "test", Resume: true, LastSeq: last})
	if err := a.Publish(t.Context(), []core.Message{msg("c", "four")}); err != nil {
		t.Fatal(err)
	}
	f := c.waitFor(t, 1, testDeadline)
	if f[0].seq() != last+1 || f[0].text() != "four" {
		t.Fatalf("after resuming at seq %d on the lagging node, got %v; want only %q with seq %d", last, f, "four", last+1)
	}
	if more := c.take(t); len(more) != 0 {
		t.Fatalf("and then %v", more)
	}
}
