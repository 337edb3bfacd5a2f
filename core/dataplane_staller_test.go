package core_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// TestDataPlaneSlowCutKeepsItsQueueThroughAReset: a client that stops
// reading is cut as slow; its node releases the connection, and the data
// plane then comes back empty (a Redis restarted without its data) before
// the client resumes there. As on one node, the client loses only what
// the queue's bound evicted, and the gap objects it gets name at least as
// many seqs as it lost: a release that dropped the queue left the entries
// only in the streams, and the reset then lost them all behind one
// one-seq gap frame.
func TestDataPlaneSlowCutKeepsItsQueueThroughAReset(t *testing.T) {
	dp := core.NewMemoryDataPlane()
	nodes := newDPCluster(t, dpBackend{log: core.NewMemoryLog(), dp: dp}, 2, core.Config{QueueFrames: 5})
	c := listen(t, nodes[0].Hub, "alice", "c")
	publishTexts(t, nodes[1].Hub, "c", numbered(0, 3)...)
	c.waitFor(t, 3, testDeadline)
	cursor := c.sess.Cursor()
	publishTexts(t, nodes[1].Hub, "c", numbered(3, 14)...)
	sess := c.sess
	waitUntil(t, testDeadline, "the slow cut", func() bool { return sess.Ended() })
	sess.Detach()
	waitUntil(t, testDeadline, "node1 to apply the release", func() bool { return nodes[1].DPReleased(c.ID) })
	dp.Reset()

	cur, err := core.ParseCursor(cursor)
	if err != nil {
		t.Fatal(err)
	}
	s := c.attach(t, core.AttachOptions{Transport: "test", Resume: true, LastSeq: cur.Seq, Cursor: cursor})
	publishTexts(t, nodes[1].Hub, "c", "live")
	var got []string
	excused := 0
	waitUntil(t, testDeadline, "the live message", func() bool {
		out, n, _ := s.Next(nil, 0)
		if n == 0 {
			return false
		}
		var fs []frame
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		if err := dec.Decode(&fs); err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.typ() == "gap" {
				excused += int(f.num("to_seq") - f.num("from_seq") + 1)
			} else {
				got = append(got, f.text())
			}
		}
		return len(got) > 0 && got[len(got)-1] == "live"
	})
	lost := 0
	for _, text := range numbered(3, 14) {
		if !slices.Contains(got, text) {
			lost++
		}
	}
	if lost > excused {
		t.Fatalf("lost %d messages, gaps name %d seqs; got %v", lost, excused, got)
	}
}
