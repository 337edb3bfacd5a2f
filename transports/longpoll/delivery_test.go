package longpoll

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

func TestEmptyPollAnswersEmptyListAfterTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEnv(t, core.Config{}, Config{Timeout: timeout})
	id := e.connect(t, "alice", "c")
	r := e.poll(t, id, nil)
	if fs := frames(t, r); len(fs) != 0 || string(r.body) != "[]" {
		t.Fatalf("body %s, want []", r.body)
	}
	if r.elapsed < timeout || r.elapsed > timeout+slack {
		t.Errorf("answered after %v, want about %v", r.elapsed, timeout)
	}
	if r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("the middleware's CORS header was lost")
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
}

func TestPollAnswersAGatherAfterABurst(t *testing.T) {
	// The gather is long next to the gaps so that a loaded machine (whose
	// 20 ms sleeps can take hundreds) still makes one burst.
	const gather = time.Second
	e := newEnv(t, core.Config{}, Config{Timeout: 5 * time.Second, Gather: gather})
	id := e.connect(t, "alice", "c")
	pending := e.pollAsync(context.Background(), id, nil)
	waitFor(t, 5*time.Second, "the poll to wait", func() bool { return e.h.Pending() == 1 })

	var sent []string
	var maxGap time.Duration
	lastAt := time.Now()
	for i := range 5 {
		if i > 0 {
			time.Sleep(gather / 50) // the burst: gaps well under gather
			maxGap = max(maxGap, time.Since(lastAt))
		}
		sent = append(sent, e.publish("c", "burst"))
		lastAt = time.Now()
	}
	r := await(t, pending, 5*time.Second)
	since := time.Since(lastAt)
	fs := frames(t, r)
	if got := uuids(fs); !slices.Equal(got, sent) {
		t.Fatalf("got %v, want the whole burst %v (largest gap between publishes %v)", got, sent, maxGap)
	}
	for i, f := range fs {
		if f.Seq != uint64(i+1) || f.Type != "message" || f.Catchup == nil || *f.Catchup {
			t.Errorf("frame %d: seq %d type %q catchup %v", i, f.Seq, f.Type, f.Catchup)
		}
	}
	if since < gather-20*time.Millisecond || since > gather+slack {
		t.Errorf("answered %v after the last message, want about %v", since, gather)
	}
}

func TestGatheringIsCappedAtTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEnv(t, core.Config{}, Config{Timeout: timeout, Gather: 200 * time.Millisecond})
	id := e.connect(t, "alice", "c")
	e.stream(t, "c", 20*time.Millisecond) // a steady stream, never quiet for a whole gather
	r := e.poll(t, id, nil)
	if fs := frames(t, r); len(fs) == 0 {
		t.Fatal("no frames")
	}
	if r.elapsed > 2*timeout+slack {
		t.Errorf("answered after %v, the gathering should stop at about %v", r.elapsed, timeout)
	}
}

func TestSteadyStreamIsAnsweredWithinFourGathers(t *testing.T) {
	const gather = 100 * time.Millisecond
	e := newEnv(t, core.Config{}, Config{Timeout: 10 * time.Second, Gather: gather})
	id := e.connect(t, "alice", "c")
	e.stream(t, "c", 20*time.Millisecond) // one frame every 20 ms: never quiet for a whole gather
	r := e.poll(t, id, nil)
	if fs := frames(t, r); len(fs) == 0 {
		t.Fatal("no frames")
	}
	if r.elapsed > maxGatherRounds*gather+gather+slack {
		t.Errorf("answered after %v, want at most about %v (not the 10 s Timeout)", r.elapsed, maxGatherRounds*gather)
	}
}

func TestNoGatherAnswersAtTheFirstFrame(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 10 * time.Second, Gather: NoGather})
	id := e.connect(t, "alice", "c")
	pending := e.pollAsync(context.Background(), id, nil)
	waitFor(t, 5*time.Second, "the poll to wait", func() bool { return e.h.Pending() == 1 })
	msg := e.publish("c", "now")
	start := time.Now()
	fs := frames(t, await(t, pending, 5*time.Second))
	if len(fs) != 1 || fs[0].UUID != msg {
		t.Fatalf("got %v", uuids(fs))
	}
	if d := time.Since(start); d > slack {
		t.Errorf("answered %v after the message", d)
	}
}

func TestMessagesBetweenPollsArriveAsCatchup(t *testing.T) {
	for _, storeFrames := range []bool{true, false} {
		name := "with store_frames"
		if !storeFrames {
			name = "without store_frames"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, core.Config{}, Config{Timeout: 2 * time.Second, Gather: 30 * time.Millisecond})
			cfg := core.DefaultChannelConfig()
			cfg.StoreFrames = storeFrames
			id := e.connectWith(t, "alice", map[string]core.ChannelConfig{"c": cfg}, "c")

			first := e.publish("c", "live")
			if got := uuids(frames(t, e.poll(t, id, nil))); !slices.Equal(got, []string{first}) {
				t.Fatalf("first poll got %v", got)
			}
			// No poll pending now.
			sent := []string{e.publish("c", "one"), e.publish("c", "two"), e.publish("", "pm", "alice")}
			fs := frames(t, e.poll(t, id, nil))
			if got := uuids(fs); !slices.Equal(got, sent) {
				t.Fatalf("next poll got %v, want %v", got, sent)
			}
			for _, f := range fs {
				if f.Catchup == nil || !*f.Catchup {
					t.Errorf("frame %d is not marked catchup", f.Seq)
				}
			}
			if fs[0].Seq != 2 || fs[2].Seq != 4 {
				t.Errorf("seqs %d..%d, want 2..4", fs[0].Seq, fs[2].Seq)
			}
		})
	}
}

func TestJSONPWrapsTheList(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 2 * time.Second, Gather: NoGather})
	id := e.connect(t, "alice", "c")
	for _, cb := range []string{"cb", "jQuery1.$_x9"} {
		msg := e.publish("c", "hi")
		r := e.poll(t, id, url.Values{"callback": {cb}})
		if r.status != http.StatusOK {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/javascript" {
			t.Errorf("Content-Type %q", ct)
		}
		body := string(r.body)
		if !strings.HasPrefix(body, cb+"([") || !strings.HasSuffix(body, "])") {
			t.Fatalf("body %s", body)
		}
		fs := decodeList(t, []byte(body[len(cb)+1:len(body)-1]))
		if len(fs) != 1 || fs[0].UUID != msg {
			t.Errorf("got %v", uuids(fs))
		}
	}
	e2 := newEnv(t, core.Config{}, Config{Timeout: 50 * time.Millisecond})
	id2 := e2.connect(t, "bob", "c")
	if r := e2.poll(t, id2, url.Values{"callback": {"cb"}}); string(r.body) != "cb([])" {
		t.Errorf("empty JSONP body %s, want cb([])", r.body)
	}
}

func TestNewerPollEndsTheOlderAtOnce(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 10 * time.Second, Gather: NoGather})
	id := e.connect(t, "alice", "c")
	older := e.pollAsync(context.Background(), id, nil)
	waitFor(t, 5*time.Second, "the older poll to wait", func() bool { return e.h.Pending() == 1 })

	start := time.Now()
	newer := e.pollAsync(context.Background(), id, nil)
	if fs := frames(t, await(t, older, 5*time.Second)); len(fs) != 0 {
		t.Errorf("older poll got %v, want []", uuids(fs))
	}
	if d := time.Since(start); d > slack {
		t.Errorf("older poll answered after %v", d)
	}
	waitFor(t, 5*time.Second, "the newer poll to wait", func() bool { return e.h.Pending() == 1 })
	msg := e.publish("c", "for the newer")
	fs := frames(t, await(t, newer, 5*time.Second))
	if len(fs) != 1 || fs[0].UUID != msg || *fs[0].Catchup {
		t.Fatalf("newer poll got %+v", fs)
	}
}

func TestMaxFramesSplitsAnswers(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 2 * time.Second, Gather: NoGather, MaxFrames: 2})
	id := e.connect(t, "alice", "c")
	var sent []string
	for range 5 {
		sent = append(sent, e.publish("c", "m"))
	}
	var got []string
	for _, want := range []int{2, 2, 1} {
		fs := frames(t, e.poll(t, id, nil))
		if len(fs) != want {
			t.Fatalf("got %d frames, want %d", len(fs), want)
		}
		got = append(got, uuids(fs)...)
	}
	if !slices.Equal(got, sent) {
		t.Errorf("got %v, want %v", got, sent)
	}
}

func TestClientGoneTakesNothing(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 10 * time.Second, Gather: 5 * time.Second})
	id := e.connect(t, "alice", "c")
	ctx, cancel := context.WithCancel(context.Background())
	gone := e.pollAsync(ctx, id, nil)
	waitFor(t, 5*time.Second, "the poll to wait", func() bool { return e.h.Pending() == 1 })
	msg := e.publish("c", "while leaving")
	cancel() // during the gathering: nothing was written
	if r := <-gone; r.err == nil {
		t.Fatalf("cancelled poll answered %d %s", r.status, r.body)
	}
	waitFor(t, 5*time.Second, "the server to see the client gone", func() bool { return e.h.Pending() == 0 })

	// The next poll, through a handler that answers at once, on the same hub.
	qh := New(Config{Hub: e.hub, Gather: NoGather})
	quick := httptest.NewServer(qh)
	defer quick.Close()
	defer shutdown(t, qh)
	r := e.get(context.Background(), quick.URL+"/listen?conn_id="+id)
	if r.err != nil {
		t.Fatal(r.err)
	}
	fs := frames(t, r)
	if len(fs) != 1 || fs[0].UUID != msg {
		t.Fatalf("next poll got %v, want [%s]", uuids(fs), msg)
	}
}

func TestRemovedConnectionEndsThePoll(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 10 * time.Second})
	id := e.connect(t, "alice", "c")
	pending := e.pollAsync(context.Background(), id, nil)
	waitFor(t, 5*time.Second, "the poll to wait", func() bool { return e.h.Pending() == 1 })
	e.hub.Disconnect(context.Background(), id)
	if fs := frames(t, await(t, pending, slack)); len(fs) != 0 {
		t.Errorf("got %v", uuids(fs))
	}
	if r := e.poll(t, id, nil); r.status != http.StatusUnauthorized {
		t.Errorf("poll after disconnect: status %d, want 401", r.status)
	}
}

func TestFramesQueuedBeforeThePollGatherFromTheirBirth(t *testing.T) {
	// A frame queued while no poll waits (between an answer and the next
	// poll) has had its quiet gap once Gather passed since it: the next
	// poll answers it at once instead of a whole Gather later.
	const gather = 2 * time.Second
	e := newEnv(t, core.Config{}, Config{Timeout: 10 * time.Second, Gather: gather})
	id := e.connect(t, "alice", "c")
	msg := e.publish("c", "early")
	time.Sleep(gather + gather/spreadShare + 100*time.Millisecond) // the frame's quiet gap passes
	r := e.poll(t, id, nil)
	if got := uuids(frames(t, r)); !slices.Equal(got, []string{msg}) {
		t.Fatalf("got %v, want [%s]", got, msg)
	}
	if r.elapsed >= gather {
		t.Errorf("answered after %v: the gathering started at the poll, not at the frame", r.elapsed)
	}
}

func TestSteadyStreamBeforeThePollIsCappedFromItsFirstFrame(t *testing.T) {
	// A steady stream is never quiet for a Gather: the gathering ends at
	// its cap, maxGatherRounds × Gather after the oldest frame waiting,
	// also when that frame came before the poll.
	const gather = time.Second
	e := newEnv(t, core.Config{}, Config{Timeout: 10 * time.Second, Gather: gather})
	id := e.connect(t, "alice", "c")
	first := e.publish("c", "first")
	e.stream(t, "c", 100*time.Millisecond)                                         // one frame every 100 ms
	time.Sleep(maxGatherRounds*gather + gather/spreadShare + 100*time.Millisecond) // past the cap
	r := e.poll(t, id, nil)
	fs := frames(t, r)
	if len(fs) < 2 || fs[0].UUID != first {
		t.Fatalf("got %d frames starting %v, want the first message and the stream", len(fs), uuids(fs[:min(len(fs), 1)]))
	}
	if r.elapsed >= 2*gather {
		t.Errorf("answered after %v: the cap counted from the poll, not from the first frame", r.elapsed)
	}
}
