package sse_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	r3sse "github.com/r3labs/sse/v2"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/sse"
)

func TestEventsCarrySeqAndCatchup(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		hub := newHub(t, core.Config{}, false)
		srv := newServer(t, hub, sse.Config{NoHijack: noHijack})
		id := connect(t, hub, "alice", "c")
		publish(t, hub, "c", "queued 1")
		publish(t, hub, "c", "queued 2")

		sub := subscribe(t, newClient(sseURL(srv, id)), nil)
		ev := sub.next(t)
		if ev.ID != 2 || len(ev.Frames) != 2 {
			t.Fatalf("first event id %d with %d frames, want id 2 with the 2 queued frames", ev.ID, len(ev.Frames))
		}
		for i, f := range ev.Frames {
			if f.Seq != uint64(i+1) || f.Type != "message" || f.Catchup == nil || !*f.Catchup ||
				f.Message != fmt.Sprintf("queued %d", i+1) || f.Channel != "c" {
				t.Errorf("queued frame %d = %+v, want seq %d, catchup true", i, f, i+1)
			}
		}

		publish(t, hub, "c", "live")
		ev = sub.next(t)
		if ev.ID != 3 || len(ev.Frames) != 1 {
			t.Fatalf("live event id %d with %d frames, want id 3 with 1 frame", ev.ID, len(ev.Frames))
		}
		if f := ev.Frames[0]; f.Seq != 3 || f.Catchup == nil || *f.Catchup || f.Message != "live" {
			t.Errorf("live frame %+v, want seq 3, catchup false", f)
		}
	})
}

func TestHeartbeatCommentsArrive(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		hub := newHub(t, core.Config{}, false)
		srv := newServer(t, hub, sse.Config{NoHijack: noHijack, HeartbeatInterval: 20 * time.Millisecond})
		id := connect(t, hub, "alice", "c")

		raw := openRaw(t, srv.Client(), sseURL(srv, id), nil)
		raw.readBlock(t) // :ok
		raw.readBlock(t) // retry
		for i := range 3 {
			if got := raw.readBlock(t); got != ": hb\n\n" {
				t.Fatalf("block %d = %q, want a heartbeat comment", i, got)
			}
		}
	})
}

func TestHeartbeatKeepsAttachedConnAlive(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		const connTimeout = 300 * time.Millisecond
		hub := newHub(t, core.Config{ConnTimeout: connTimeout, GCInterval: 20 * time.Millisecond}, true)
		srv := newServer(t, hub, sse.Config{NoHijack: noHijack, HeartbeatInterval: 50 * time.Millisecond})
		attached := connect(t, hub, "alice", "c")
		idle := connect(t, hub, "bob", "c")

		sub := subscribe(t, newClient(sseURL(srv, attached)), nil)
		eventually(t, "the unattached connection is collected", func() bool { return !hub.HasConn(idle) })

		// Stay attached for several more timeouts: the stream must not end.
		select {
		case err := <-sub.End:
			t.Fatalf("stream ended (%v) although heartbeats were flowing", err)
		case <-time.After(4 * connTimeout):
		}
		if !hub.HasConn(attached) {
			t.Fatal("the attached connection was collected")
		}
		publish(t, hub, "c", "still here")
		if f := sub.frames(t, 1)[0]; f.Message != "still here" {
			t.Errorf("frame %+v", f)
		}

		sub.Stop(t)
		eventually(t, "the connection is collected once its client left", func() bool { return !hub.HasConn(attached) })
	})
}

func TestHubDisconnectEndsStream(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		hub := newHub(t, core.Config{}, false)
		srv := newServer(t, hub, sse.Config{NoHijack: noHijack})
		id := connect(t, hub, "alice", "c")
		client := newClient(sseURL(srv, id))
		sub := subscribe(t, client, nil)
		publish(t, hub, "c", "hello")
		sub.frames(t, 1)

		hub.Disconnect(context.Background(), id)
		select {
		case err := <-sub.End:
			if err != nil {
				t.Errorf("stream ended with %v, want a clean end", err)
			}
		case <-time.After(waitFor):
			t.Fatal("stream still open after hub.Disconnect")
		}
		resp, err := http.Get(sseURL(srv, id))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("reconnect status %d, want 404", resp.StatusCode)
		}
	})
}

func TestNewerStreamReplacesOlder(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		hub := newHub(t, core.Config{}, false)
		srv := newServer(t, hub, sse.Config{NoHijack: noHijack})
		id := connect(t, hub, "alice", "c")
		first := subscribe(t, newClient(sseURL(srv, id)), nil)
		publish(t, hub, "c", "one")
		first.frames(t, 1)

		second := subscribe(t, newClient(sseURL(srv, id)), nil)
		select {
		case <-first.End:
		case <-time.After(waitFor):
			t.Fatal("the older stream was not ended")
		}
		publish(t, hub, "c", "two")
		if f := second.frames(t, 1)[0]; f.Message != "two" || f.Seq != 2 {
			t.Errorf("newer stream got %+v, want only seq 2", f)
		}
	})
}

// TestResumeLosesNothingAndRepeatsNothing drops the stream from the client
// side many times while messages keep coming, and resumes each time with
// the r3labs client's automatic Last-Event-ID.
func TestResumeLosesNothingAndRepeatsNothing(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		const total = 400
		hub := newHub(t, core.Config{}, false)
		srv := newServer(t, hub, sse.Config{NoHijack: noHijack})
		id := connect(t, hub, "alice", "c")
		client := newClient(sseURL(srv, id))

		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range total {
				publish(t, hub, "c", fmt.Sprint(i))
				if i%10 == 0 {
					time.Sleep(time.Millisecond) // let some batches go out live
				}
			}
		})

		var got []frame
		catchup := 0
		for round := 0; len(got) < total; round++ {
			if round > 1000 {
				t.Fatalf("no progress: %d of %d frames", len(got), total)
			}
			// Each round takes up to 23 frames, then drops the stream.
			sub := subscribe(t, client, nil)
			taken := 0
		round:
			for taken < 23 && len(got) < total {
				select {
				case ev := <-sub.Events:
					for _, f := range ev.Frames {
						if f.Catchup != nil && *f.Catchup {
							catchup++
						}
					}
					got = append(got, ev.Frames...)
					taken += len(ev.Frames)
				case <-sub.End:
					break round
				case <-time.After(waitFor):
					t.Fatalf("round %d: no event; have %d of %d", round, len(got), total)
				}
			}
			sub.Stop(t)
			// Events the client had parsed before the drop are still queued.
			for len(sub.Events) > 0 {
				got = append(got, (<-sub.Events).Frames...)
			}
		}
		wg.Wait()
		if len(got) != total {
			t.Fatalf("got %d frames, want %d", len(got), total)
		}
		for i, f := range got {
			if f.Seq != uint64(i+1) || f.Message != fmt.Sprint(i) {
				t.Fatalf("frame %d = seq %d %q, want seq %d %q (loss or duplicate)", i, f.Seq, f.Message, i+1, fmt.Sprint(i))
			}
		}
		t.Logf("%d frames, %d of them caught up after a drop", total, catchup)
	})
}

func TestResumeFromQueryParameter(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		for _, param := range []string{"last_event_id", "lastEventId"} {
			t.Run(param+" resumes", func(t *testing.T) {
				hub := newHub(t, core.Config{}, false)
				srv := newServer(t, hub, sse.Config{NoHijack: noHijack})
				id := connect(t, hub, "alice", "c")
				publish(t, hub, "c", "a")
				publish(t, hub, "c", "b")
				publish(t, hub, "c", "c")
				sub := subscribe(t, newClient(sseURL(srv, id)+"&"+param+"=1"), nil)
				ev := sub.next(t)
				if ev.ID != 3 || len(ev.Frames) != 2 || ev.Frames[0].Seq != 2 {
					t.Errorf("event %+v, want seqs 2 and 3", ev)
				}
			})
		}
	})
}

// TestResumeFromCursor: a cursor (core.Cursor) resumes after its seq
// whether it comes as Last-Event-ID or as the cursor parameter
// (channelstream.js switching to SSE), and Last-Event-ID wins over the
// parameter; a cursor parameter that is not one is ignored, never a 400.
func TestResumeFromCursor(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		cases := []struct {
			name, query, header string
			first               uint64
		}{
			{"as Last-Event-ID", "", "1-0.1.7-3.2.9", 2},
			{"as the cursor parameter", "&cursor=1-0.1.7", "", 2},
			{"Last-Event-ID wins over the parameter", "&cursor=0-0.1.7", "2-0.1.9", 3},
			{"the parameter when Last-Event-ID is not one", "&cursor=1-0.1.7", "x", 2},
			{"a bad parameter is ignored", "&cursor=2-0.0.7", "", 1},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				hub := newHub(t, core.Config{}, false)
				srv := newServer(t, hub, sse.Config{NoHijack: noHijack})
				id := connect(t, hub, "alice", "c")
				publish(t, hub, "c", "a")
				publish(t, hub, "c", "b")
				publish(t, hub, "c", "c")
				client := newClient(sseURL(srv, id) + tc.query)
				if tc.header != "" {
					client.Headers["Last-Event-ID"] = tc.header
				}
				sub := subscribe(t, client, nil)
				fs := sub.frames(t, int(4-tc.first))
				if fs[0].Seq != tc.first || fs[len(fs)-1].Seq != 3 {
					t.Errorf("frames %+v, want seqs %d to 3", fs, tc.first)
				}
			})
		}
	})
}

func TestNonNumericLastEventIDIsIgnored(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		for _, header := range []string{"not-a-number", "-1", "1.5", "99999999999999999999999"} {
			t.Run(fmt.Sprintf("%q starts from the queue", header), func(t *testing.T) {
				hub := newHub(t, core.Config{}, false)
				srv := newServer(t, hub, sse.Config{NoHijack: noHijack})
				id := connect(t, hub, "alice", "c")
				publish(t, hub, "c", "a")
				publish(t, hub, "c", "b")

				client := newClient(sseURL(srv, id))
				client.Headers["Last-Event-ID"] = header
				sub := subscribe(t, client, nil)
				fs := sub.frames(t, 2)
				if fs[0].Seq != 1 || fs[1].Seq != 2 {
					t.Errorf("frames %+v, want seqs 1 and 2", fs)
				}
			})
		}
	})
}

func TestResumeOlderThanRetainedGetsGap(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		hub := newHub(t, core.Config{QueueFrames: 5}, false)
		srv := newServer(t, hub, sse.Config{NoHijack: noHijack})
		id := connect(t, hub, "alice", "c")
		for i := 1; i <= 11; i++ {
			publish(t, hub, "c", fmt.Sprint("m", i))
		}

		client := newClient(sseURL(srv, id))
		client.LastEventID.Store([]byte("1")) // as if seq 1 had been received
		sub := subscribe(t, client, nil)
		ev := sub.next(t)
		if ev.ID != 11 || len(ev.Frames) != 6 {
			t.Fatalf("event id %d with %d objects, want id 11 with a gap and 5 frames", ev.ID, len(ev.Frames))
		}
		if g := ev.Frames[0]; g.Type != "gap" || g.FromSeq != 2 || g.ToSeq != 6 {
			t.Fatalf("first object %+v, want a gap from 2 to 6", g)
		}
		for i, f := range ev.Frames[1:] {
			if f.Seq != uint64(7+i) || f.Message != fmt.Sprint("m", 7+i) || f.Catchup == nil || !*f.Catchup {
				t.Errorf("frame %+v, want seq %d caught up", f, 7+i)
			}
		}
	})
}

// TestSlowConsumerIsCut has one client that never reads and one that reads
// everything: the first is ended as slow, the second misses nothing.
func TestSlowConsumerIsCut(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		hub := newHub(t, core.Config{QueueFrames: 8, MaxMessageBytes: 1 << 20}, false)
		// The write wait must outlast the few publishes that fill the
		// queue once the slow socket's buffers are full: when it ran out
		// first (300 ms on a loaded CI machine), the stream ended on its
		// write deadline, which is no slow-consumer cut, and the loop below
		// never saw one.
		srv := newServer(t, hub, sse.Config{NoHijack: noHijack, WriteWait: 2 * time.Second})
		fastID := connect(t, hub, "fast", "c")
		slowID := connect(t, hub, "slow", "c")

		fast := subscribe(t, newClient(sseURL(srv, fastID), r3sse.ClientMaxBufferSize(1<<20)), nil)
		slow := dialNoRead(t, sseURL(srv, slowID))
		if status := slow.readHeader(t); status != http.StatusOK {
			t.Fatalf("slow client status %d", status)
		}

		big := strings.Repeat("x", 64<<10)
		sent := 0
		for hub.Stats().SlowDisconnects.Load() == 0 {
			if sent == 2000 {
				t.Fatal("the client that does not read was never cut")
			}
			sent++
			publish(t, hub, "c", fmt.Sprint(sent, big))
			fast.frames(t, 1) // lockstep: the fast client keeps up
		}
		for range 5 {
			sent++
			publish(t, hub, "c", fmt.Sprint(sent, big))
			fast.frames(t, 1)
		}
		if n := hub.Stats().SlowDisconnects.Load(); n != 1 {
			t.Errorf("%d slow disconnects, want 1", n)
		}
		select {
		case err := <-fast.End:
			t.Fatalf("the fast stream ended: %v", err)
		default:
		}
		// The slow stream's server side ends once its blocked write times out.
		slow.drainToEnd(t)
		t.Logf("the slow client was cut after %d messages of 64 KiB", sent-5)
	})
}

// noReadConn is a client that sends its request and then reads nothing.
type noReadConn struct {
	conn net.Conn
	r    *bufio.Reader
	req  *http.Request
	resp *http.Response
}

func dialNoRead(t *testing.T, rawURL string) *noReadConn {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	return &noReadConn{conn: conn, r: bufio.NewReaderSize(conn, 4096), req: req}
}

// readHeader reads the response header (and leaves the body unread).
func (c *noReadConn) readHeader(t *testing.T) int {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitFor))
	resp, err := http.ReadResponse(c.r, c.req)
	if err != nil {
		t.Fatal(err)
	}
	c.resp = resp
	return resp.StatusCode
}

// drainToEnd reads the body until the server ends the response.
func (c *noReadConn) drainToEnd(t *testing.T) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitFor))
	_, err := io.Copy(io.Discard, c.resp.Body)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the slow stream did not end: %v", err)
	}
	if err != nil {
		t.Logf("the slow stream ended with %v", err) // a reset is an end too
	}
}

func TestShutdownSendsJitteredRetryAndEnds(t *testing.T) {
	bothWays(t, func(t *testing.T, noHijack bool) {
		hub := newHub(t, core.Config{}, false)
		srv := newServer(t, hub, sse.Config{NoHijack: noHijack, Retry: time.Second, ShutdownJitter: 3 * time.Second})
		id := connect(t, hub, "alice", "c")
		raw := openRaw(t, srv.Client(), sseURL(srv, id), nil)
		raw.readBlock(t) // :ok
		raw.readBlock(t) // retry: 1000

		hub.Drain()
		if n := hub.EndSessions(core.DisconnectShutdown); n != 1 {
			t.Fatalf("EndSessions ended %d sessions, want 1", n)
		}
		block := raw.readBlock(t)
		var ms int
		if _, err := fmt.Sscanf(block, "retry: %d\n\n", &ms); err != nil || ms < 1000 || ms >= 4000 {
			t.Fatalf("block %q, want a retry between 1000 and 4000 ms", block)
		}
		if rest := raw.readToEnd(t); rest != "" {
			t.Errorf("after the retry: %q, want the end of the stream", rest)
		}
		resp, err := http.Get(sseURL(srv, id))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("attach while draining: %d, want 503", resp.StatusCode)
		}
	})
}
