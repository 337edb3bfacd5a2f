package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// resumeWithoutLoss: a few hundred messages published while the client's
// network path is cut and restored again and again arrive exactly once, in
// order, with consecutive seqs.
func resumeWithoutLoss(e *behaviourEnv) {
	const total = 300
	t := e.t
	_, alice := e.attach("alice", "feed")
	e.send(map[string]any{"channel": "feed", "message": map[string]any{"i": 0}})
	got := takeFrames(t, alice, 1) // the client has a seq to resume from

	published := make(chan error, 1)
	go func() {
		for i := 1; i < total; i++ {
			code, b, err := e.tg.post(nil, "POST", "/message", []map[string]any{
				{"user": "system", "channel": "feed", "message": map[string]any{"i": i}},
			})
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("message %d: %d %s", i, code, b)
			}
			if err != nil {
				published <- err
				return
			}
			// A publisher's pace, so that drops fall all along the stream.
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		}
		published <- nil
	}()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	drops, publishing := 0, true
	nextDrop := func() (int, time.Time) {
		return len(got) + 3 + rng.IntN(25), time.Now().Add(time.Duration(10+rng.IntN(70)) * time.Millisecond)
	}
	dropAfter, dropAt := nextDrop()
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < total {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d frames after %d drops", len(got), total, drops)
		}
		select {
		case err := <-published:
			if err != nil {
				t.Fatal(err)
			}
			publishing = false
		default:
		}
		batch, err := alice.Next(50 * time.Millisecond)
		switch {
		case errors.Is(err, errNoBatch):
		case err != nil:
			t.Fatalf("after %d frames: %v", len(got), err)
		default:
			got = append(got, batch...)
		}
		if publishing && (len(got) >= dropAfter || time.Now().After(dropAt)) {
			alice.Drop()
			drops++
			// Stay away a moment: frames pile up meanwhile.
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			if err := alice.Resume(); err != nil {
				t.Fatalf("resume %d from %d: %v", drops, alice.LastSeq(), err)
			}
			dropAfter, dropAt = nextDrop()
		}
	}
	if publishing {
		if err := <-published; err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range got {
		if f.Type() != "message" || f.Seq() != uint64(i+1) || f.Obj("message")["i"] != float64(i) {
			t.Fatalf("frame %d is %v, want seq %d with i %d (drops: %d)", i, f, i+1, i, drops)
		}
	}
	// Nothing more comes: a marker is the very next frame.
	e.send(map[string]any{"channel": "feed", "message": map[string]any{"i": total}})
	wantFrame(t, takeFrame(t, alice), map[string]any{"seq": total + 1, "message": map[string]any{"i": total}})
	if drops < 5 {
		t.Errorf("only %d drops while publishing: the scenario did not exercise resume", drops)
	}
	t.Logf("%d frames exactly once, in order, across %d drops", total, drops)
}

// gapWhenResumeTooOld: with conn_queue_frames 5, a client that resumes
// from a seq the connection no longer retains first gets a gap object
// naming the lost range, then the retained frames, then live ones.
func gapWhenResumeTooOld(e *behaviourEnv) {
	t := e.t
	_, alice := e.attach("alice", "feed")
	e.send(map[string]any{"channel": "feed", "message": map[string]any{"i": 0}})
	wantFrame(t, takeFrame(t, alice), map[string]any{"seq": 1})
	alice.Drop()
	for i := 1; i <= 20; i++ { // seqs 2..21; the queue keeps 17..21
		e.send(map[string]any{"channel": "feed", "message": map[string]any{"i": i}})
	}
	if err := alice.Resume(); err != nil {
		t.Fatal(err)
	}
	got := takeFrames(t, alice, 6)
	wantFrame(t, got[0], map[string]any{"type": "gap", "from_seq": 2, "to_seq": 16})
	for k, f := range got[1:] {
		wantFrame(t, f, map[string]any{"type": "message", "seq": 17 + k, "message": map[string]any{"i": 16 + k}})
	}
	e.send(map[string]any{"channel": "feed", "message": map[string]any{"i": 21}})
	wantFrame(t, takeFrame(t, alice), e.live(map[string]any{"seq": 22, "message": map[string]any{"i": 21}}))
}
