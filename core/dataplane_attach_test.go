package core_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// releaseGateLog holds back the append of the first release that names
// hold (until open is closed) and reports every other release appended
// after it.
type releaseGateLog struct {
	core.Log
	hold     atomic.Pointer[string]
	held     chan struct{} // closed when the held append began
	open     chan struct{}
	appended chan string // the other releases' ops
}

func (l *releaseGateLog) Append(ctx context.Context, op []byte) (string, error) {
	s := string(op)
	if strings.Contains(s, `"k":"release"`) {
		select {
		case <-l.held:
			select {
			case l.appended <- s:
			default: // the test no longer listens
			}
		default:
			if id := l.hold.Load(); id != nil && strings.Contains(s, *id) {
				close(l.held)
				<-l.open
			}
		}
	}
	return l.Log.Append(ctx, op)
}

// readGateDP holds back every Read while armed, saying when one waits.
type readGateDP struct {
	core.DataPlane
	armed   chan struct{} // closed: Reads wait
	waiting chan struct{} // one send per Read that waits
	open    chan struct{}
}

func (d *readGateDP) Read(ctx context.Context, s core.Stream, after core.Pos, limit int) (core.ReadResult, error) {
	select {
	case <-d.open:
	case <-d.armed:
		select {
		case d.waiting <- struct{}{}:
		default:
		}
		<-d.open
	default:
	}
	return d.DataPlane.Read(ctx, s, after, limit)
}

// resumeAfter takes n frames on c's session and returns the options that
// resume after them, with the session's cursor.
func resumeAfter(t *testing.T, c *client, n int) core.AttachOptions {
	t.Helper()
	c.waitFor(t, n, testDeadline)
	cursor := c.sess.Cursor()
	cur, err := core.ParseCursor(cursor)
	if err != nil {
		t.Fatal(err)
	}
	return core.AttachOptions{Transport: "test", Resume: true, LastSeq: cur.Seq, Cursor: cursor}
}

// A release whose append is slow (its transport left a moment ago) must
// not take the holder state of an attachment that began on the node
// while the append went out: that attachment catches up from the
// client's cursor and announces its own hold. Before, the release took
// it and the attachment failed with "replaced while catching up" (503),
// as TestBehaviourCluster/*/resume_without_loss did in data-plane mode
// under load.
func TestDataPlaneSlowReleaseLeavesANewAttachmentItsState(t *testing.T) {
	dp := core.NewMemoryDataPlane()
	log := core.NewMemoryLog()
	gl := &releaseGateLog{Log: log, held: make(chan struct{}), open: make(chan struct{}), appended: make(chan string, 16)}
	gdp := &readGateDP{DataPlane: dp, armed: make(chan struct{}), waiting: make(chan struct{}, 4), open: make(chan struct{})}
	n0 := startNode(t, gl, core.Config{DataPlane: gdp}, "node0")
	n1 := startNode(t, log, core.Config{DataPlane: dp}, "node1")

	alice := listen(t, n0.Hub, "alice", "c")
	bob := listen(t, n0.Hub, "bob", "c")
	gl.hold.Store(&alice.ID)
	publishTexts(t, n1.Hub, "c", numbered(0, 3)...)
	bob.waitFor(t, 3, testDeadline)
	resume := resumeAfter(t, alice, 3)

	// alice leaves node0; its release waits in the append.
	alice.sess.Detach()
	<-gl.held
	// She comes back through node1 (whose hold takes node0's state)...
	alice.hub = n1.Hub
	alice.attach(t, resume)
	waitUntil(t, testDeadline, "node0 to drop its state", func() bool { return !n0.DPHeld(alice.ID) })
	alice.sess.Detach()
	// ...and through node0 again, whose catch-up waits in its read.
	close(gdp.armed)
	attached := make(chan error, 1)
	go func() {
		s, err := n0.Attach(alice.ID, resume)
		alice.sess = s
		attached <- err
	}()
	<-gdp.waiting
	// The release goes out; bob's, announced after it on the same loop,
	// says it is done with alice's.
	bob.sess.Detach()
	close(gl.open)
	for op := range gl.appended {
		if strings.Contains(op, bob.ID) {
			break
		}
	}
	close(gdp.open)
	if err := <-attached; err != nil {
		t.Fatalf("attach during the release: %v", err)
	}
	alice.hub, alice.pos = n0.Hub, resume.LastSeq
	publishTexts(t, n1.Hub, "c", "after")
	wantTexts(t, "alice back on node0", alice.waitFor(t, 1, testDeadline), []string{"after"})
	alice.expectNothing(t)
}

// Two attachments of one client that cross (it gave up on a slow one and
// came back): the one that began later stays, whichever is made last.
// Before, the older one, slowed by its catch-up read, replaced the newer
// one when done, ending the stream its client was reading
// (TestBehaviourCluster/sse/resume_without_loss: "stream ended").
func TestDataPlaneOlderAttachmentDoesNotReplaceANewerOne(t *testing.T) {
	dp := core.NewMemoryDataPlane()
	gdp := &readGateDP{DataPlane: dp, armed: make(chan struct{}), waiting: make(chan struct{}, 4), open: make(chan struct{})}
	n0 := startNode(t, core.NewMemoryLog(), core.Config{DataPlane: gdp}, "node0")
	alice := listen(t, n0.Hub, "alice", "c")
	publishTexts(t, n0.Hub, "c", numbered(0, 3)...)
	resume := resumeAfter(t, alice, 3)
	alice.sess.Detach()
	waitUntil(t, testDeadline, "the release to free the state", func() bool { return !n0.DPHeld(alice.ID) })

	close(gdp.armed)
	older := make(chan error, 1)
	go func() {
		_, err := n0.Attach(alice.ID, resume)
		older <- err
	}()
	<-gdp.waiting // the older one catches up
	alice.attach(t, resume)
	newer := alice.sess
	close(gdp.open)
	if err := <-older; !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("the older attachment made last: %v, want ErrUnavailable", err)
	}
	select {
	case <-newer.Done():
		t.Fatalf("the newer session ended: %v", newer.Reason())
	default:
	}
	publishTexts(t, n0.Hub, "c", "after")
	wantTexts(t, "alice's newer session", alice.waitFor(t, 1, testDeadline), []string{"after"})
	alice.expectNothing(t)
}
