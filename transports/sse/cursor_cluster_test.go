package sse_test

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/sse"
)

// dataPlaneNode is a hub in data-plane mode behind its own /sse.
type dataPlaneNode struct {
	hub *core.Hub
	url string // the server's base URL
}

// newDataPlaneNodes starts n hubs in data-plane mode on one MemoryLog and
// one MemoryDataPlane, each behind its own server.
func newDataPlaneNodes(t *testing.T, n int) []dataPlaneNode {
	t.Helper()
	return newDataPlaneNodesOn(t, n, core.NewMemoryDataPlane())
}

// newDataPlaneNodesOn is newDataPlaneNodes on dp.
func newDataPlaneNodesOn(t *testing.T, n int, dp *core.MemoryDataPlane) []dataPlaneNode {
	t.Helper()
	log := core.NewMemoryLog()
	nodes := make([]dataPlaneNode, n)
	for i := range nodes {
		hub := newHub(t, core.Config{Log: log, DataPlane: dp, NodeID: fmt.Sprint("node", i), ConnTimeout: 10 * time.Second}, true)
		deadline := time.Now().Add(10 * time.Second)
		for hub.Ready(context.Background()) != nil {
			if time.Now().After(deadline) {
				t.Fatal("the hub is not ready")
			}
			time.Sleep(5 * time.Millisecond)
		}
		nodes[i] = dataPlaneNode{hub: hub, url: newServer(t, hub, sse.Config{}).URL}
	}
	return nodes
}

// TestCursorIsTheEventIDAndResumesOnAnotherNode: in data-plane mode the
// event id is the session's resume cursor; a stream on another node with
// that cursor as Last-Event-ID, or as the cursor parameter, gets exactly
// what came after it: the cursor reached that node's hub (the first node,
// whose stream is still open, has released no position of its own).
func TestCursorIsTheEventIDAndResumesOnAnotherNode(t *testing.T) {
	for _, how := range []string{"Last-Event-ID", "cursor parameter"} {
		t.Run(how, func(t *testing.T) {
			nodes := newDataPlaneNodes(t, 2)
			a, b := nodes[0], nodes[1]
			id := connect(t, a.hub, "alice", "c")
			deadline := time.Now().Add(10 * time.Second)
			for !b.hub.HasConn(id) {
				if time.Now().After(deadline) {
					t.Fatal("node1 does not know the connection")
				}
				time.Sleep(5 * time.Millisecond)
			}

			first := subscribe(t, newClient(a.url+"/sse?conn_id="+id), nil)
			for i := 1; i <= 3; i++ {
				publish(t, a.hub, "c", fmt.Sprint(i))
			}
			var got []frame
			var cursor string
			for len(got) < 3 {
				ev := first.next(t)
				got = append(got, ev.Frames...)
				cursor = ev.RawID
				if !strings.HasPrefix(cursor, fmt.Sprint(ev.Frames[len(ev.Frames)-1].Seq, "-")) {
					t.Fatalf("event id %q is not the cursor after seq %d", cursor, ev.Frames[len(ev.Frames)-1].Seq)
				}
			}
			for i := 4; i <= 6; i++ {
				publish(t, b.hub, "c", fmt.Sprint(i))
			}
			u := b.url + "/sse?conn_id=" + id
			if how == "cursor parameter" {
				u += "&cursor=" + url.QueryEscape(cursor)
			}
			client := newClient(u)
			if how == "Last-Event-ID" {
				client.Headers["Last-Event-ID"] = cursor
			}
			second := subscribe(t, client, nil)
			got = append(got, second.frames(t, 3)...)
			var texts []string
			var seqs []uint64
			for _, f := range got {
				texts, seqs = append(texts, f.Message), append(seqs, f.Seq)
			}
			if want := []string{"1", "2", "3", "4", "5", "6"}; !reflect.DeepEqual(texts, want) {
				t.Fatalf("got %q, want %q each once (%+v)", texts, want, got)
			}
			if !reflect.DeepEqual(seqs, []uint64{1, 2, 3, 4, 5, 6}) {
				t.Errorf("seqs %v", seqs)
			}
		})
	}
}
