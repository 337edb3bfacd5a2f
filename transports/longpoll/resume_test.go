package longpoll

import (
	"context"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

func lastSeq(n uint64) url.Values { return url.Values{"last_seq": {strconv.FormatUint(n, 10)}} }

func TestLastSeqRedeliversALostResponse(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 300 * time.Millisecond, Gather: NoGather})
	id := e.connect(t, "alice", "c")
	first := []string{e.publish("c", "1"), e.publish("c", "2"), e.publish("c", "3")}

	lost := frames(t, e.poll(t, id, lastSeq(0)))
	if !slices.Equal(uuids(lost), first) {
		t.Fatalf("first poll got %v, want %v", uuids(lost), first)
	}
	// The client never saw that answer: it asks again from the same point.
	again := frames(t, e.poll(t, id, lastSeq(0)))
	if !slices.Equal(uuids(again), first) {
		t.Fatalf("re-poll got %v, want %v again", uuids(again), first)
	}
	for i, f := range again {
		if f.Seq != uint64(i+1) {
			t.Errorf("frame %d has seq %d", i, f.Seq)
		}
	}

	more := []string{e.publish("c", "4"), e.publish("c", "5")}
	next := frames(t, e.poll(t, id, lastSeq(3)))
	if !slices.Equal(uuids(next), more) {
		t.Fatalf("poll after 3 got %v, want only %v", uuids(next), more)
	}
	if next[0].Seq != 4 || next[1].Seq != 5 {
		t.Errorf("seqs %d, %d", next[0].Seq, next[1].Seq)
	}
	if fs := frames(t, e.poll(t, id, lastSeq(5))); len(fs) != 0 {
		t.Errorf("everything acknowledged, yet got %v", uuids(fs))
	}
}

func TestLastSeqOlderThanRetainedStartsWithAGap(t *testing.T) {
	e := newEnv(t, core.Config{QueueFrames: 3}, Config{Timeout: time.Second, Gather: NoGather})
	id := e.connect(t, "alice", "c")
	var sent []string
	for i := range 6 {
		sent = append(sent, e.publish("c", strconv.Itoa(i)))
	}
	fs := frames(t, e.poll(t, id, lastSeq(0)))
	if len(fs) != 4 {
		t.Fatalf("got %d objects, want a gap and 3 frames: %+v", len(fs), fs)
	}
	if g := fs[0]; g.Type != "gap" || g.FromSeq != 1 || g.ToSeq != 3 {
		t.Errorf("first object %+v, want gap 1..3", g)
	}
	if got := uuids(fs[1:]); !slices.Equal(got, sent[3:]) {
		t.Errorf("got %v, want %v", got, sent[3:])
	}
	if fs[1].Seq != 4 || fs[3].Seq != 6 {
		t.Errorf("seqs %d..%d, want 4..6", fs[1].Seq, fs[3].Seq)
	}
}

// TestNothingIsLostBetweenPolls publishes a stream while a client polls in a
// loop: every message arrives exactly once and in order (PROTOCOL §2 #5),
// with the response as acknowledgement and with last_seq, where the client
// also drops some answers and asks again.
func TestNothingIsLostBetweenPolls(t *testing.T) {
	for _, withSeq := range []bool{false, true} {
		name := "acknowledged by the response"
		if withSeq {
			name = "acknowledged by last_seq with lost responses"
		}
		t.Run(name, func(t *testing.T) {
			const total = 300
			e := newEnv(t, core.Config{}, Config{Timeout: 200 * time.Millisecond, Gather: 2 * time.Millisecond})
			id := e.connect(t, "alice", "c")

			sent := make([]string, total)
			var wg sync.WaitGroup
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(1, 2))
				for i := range total {
					sent[i] = e.publish("c", strconv.Itoa(i))
					if rng.IntN(4) == 0 {
						time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
					}
				}
			})

			rng := rand.New(rand.NewPCG(3, 4))
			var got []string
			var cursor uint64
			dropped := 0
			deadline := time.Now().Add(20 * time.Second)
			for len(got) < total && time.Now().Before(deadline) {
				var extra url.Values
				if withSeq {
					extra = lastSeq(cursor)
				}
				fs := frames(t, e.poll(t, id, extra))
				if withSeq && len(fs) > 0 && rng.IntN(3) == 0 {
					dropped++ // lost on the way: ask again from the same cursor
					continue
				}
				for _, f := range fs {
					if f.Type == "gap" {
						t.Fatalf("gap %d..%d", f.FromSeq, f.ToSeq)
					}
					if f.Seq != cursor+1 {
						t.Fatalf("seq %d after %d", f.Seq, cursor)
					}
					cursor = f.Seq
					got = append(got, f.UUID)
				}
			}
			wg.Wait()
			if !slices.Equal(got, sent) {
				t.Fatalf("received %d of %d messages (or out of order)", len(got), total)
			}
			if withSeq && dropped == 0 {
				t.Error("no response was dropped; the test proved nothing about resume")
			}
		})
	}
}

func TestIdleLongPollConnectionIsCollected(t *testing.T) {
	const connTimeout = time.Second
	e := newEnv(t, core.Config{ConnTimeout: connTimeout, GCInterval: 10 * time.Millisecond},
		Config{Timeout: 100 * time.Millisecond, Gather: NoGather})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	id := e.connect(t, "alice", "c")
	var lastPoll time.Time // the last poll's last touch is after this
	t.Run("kept while polling", func(t *testing.T) {
		until := time.Now().Add(2 * connTimeout)
		for time.Now().Before(until) {
			lastPoll = time.Now()
			if r := e.poll(t, id, nil); r.status != 200 || !e.hub.HasConn(id) {
				t.Fatalf("status %d body %s: collected while polling", r.status, r.body)
			}
		}
	})
	t.Run("collected once polls stop, then 401", func(t *testing.T) {
		waitFor(t, 5*time.Second, "the collector", func() bool { return !e.hub.HasConn(id) })
		if d := time.Since(lastPoll); d < connTimeout {
			t.Errorf("collected %v after the last poll began, before the conn timeout %v", d, connTimeout)
		}
		if r := e.poll(t, id, nil); r.status != 401 {
			t.Errorf("status %d, want 401", r.status)
		}
	})
}

// TestCursorResumesAfterItsSeq: a cursor= resumes as last_seq= at its seq
// (on a hub without a data plane its positions do not matter), alone or
// beside an agreeing last_seq; a refused one (bad, or disagreeing with
// last_seq) changes nothing.
func TestCursorResumesAfterItsSeq(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 300 * time.Millisecond, Gather: NoGather})
	id := e.connect(t, "alice", "c")
	sent := []string{e.publish("c", "1"), e.publish("c", "2"), e.publish("c", "3")}

	for _, q := range []url.Values{
		{"cursor": {"1-0.1.7-4.2.1"}},
		{"cursor": {"1"}},
		{"cursor": {"1-0.1.7"}, "last_seq": {"1"}},
	} {
		fs := frames(t, e.poll(t, id, q))
		if got := uuids(fs); !slices.Equal(got, sent[1:]) || fs[0].Seq != 2 {
			t.Fatalf("poll %v got %v, want seqs 2 and 3 %v", q, got, sent[1:])
		}
	}
	// Refusals acknowledge nothing: frames 2 and 3 still come after seq 1.
	for _, q := range []url.Values{
		{"cursor": {"3-0.1.7"}, "last_seq": {"2"}},
		{"cursor": {"3-0.0.7"}},
	} {
		if r := e.poll(t, id, q); r.status/100 != 4 {
			t.Fatalf("poll %v answered %d %s, want a refusal", q, r.status, r.body)
		}
	}
	if got := uuids(frames(t, e.poll(t, id, url.Values{"cursor": {"1-0.1.7"}}))); !slices.Equal(got, sent[1:]) {
		t.Fatalf("after the refusals got %v, want %v", got, sent[1:])
	}
	if fs := frames(t, e.poll(t, id, url.Values{"cursor": {"3-0.1.9"}})); len(fs) != 0 {
		t.Errorf("everything up to the cursor's seq 3 acknowledged, yet got %v", uuids(fs))
	}
}
