package main

import (
	"io"
	"testing"
	"time"
)

// sink collects markers for the payload tests.
type sink struct{ seqs, sents []int64 }

func (s *sink) Deliver(seq uint64, sent, _ int64) {
	s.seqs = append(s.seqs, int64(seq))
	s.sents = append(s.sents, sent)
}

func TestSeqSetCountsDuplicatesAndRange(t *testing.T) {
	s := newSeqSet(130)
	for _, seq := range []uint64{0, 63, 64, 129} {
		if dup, ok := s.add(seq); dup || !ok {
			t.Fatalf("first add(%d) = dup %v ok %v", seq, dup, ok)
		}
	}
	if dup, ok := s.add(64); !dup || !ok {
		t.Errorf("second add(64) = dup %v ok %v, want a duplicate", dup, ok)
	}
	if _, ok := s.add(130); ok {
		t.Error("add(130) accepted a seq outside [0, 130)")
	}
	if got := s.countRange(0, 130); got != 4 {
		t.Errorf("countRange(0,130) = %d, want 4", got)
	}
	if got := s.countRange(1, 64); got != 1 {
		t.Errorf("countRange(1,64) = %d, want 1 (63)", got)
	}
	if got := s.missing(60, 70, nil); got != 8 {
		t.Errorf("missing(60,70) = %d, want 8", got)
	}
	if got := s.missing(60, 70, func(seq uint64) bool { return seq == 61 }); got != 7 {
		t.Errorf("missing(60,70) skipping 61 = %d, want 7", got)
	}
}

func TestCollectorCountsLossDuplicatesAndLatency(t *testing.T) {
	// Two steps: seqs 0..9 (2 warm-up, 8 measured), then 10..19 (no warm-up).
	steps := []*Step{newStep(10, 0, 2, 10), newStep(20, 10, 10, 20)}
	col := NewCollector(steps, nil)
	a, b := col.NewReceiver(0), col.NewReceiver(1)
	for seq := range uint64(20) {
		a.Deliver(seq, 1000, 1000+int64(seq)*1e6) // every message, seq ms late
		if seq != 5 && seq != 15 && seq != 16 {
			b.Deliver(seq, 1000, 2000)
		}
	}
	a.Deliver(3, 1000, 5000)  // a duplicate in step 0
	b.Deliver(12, 1000, 5000) // and in step 1
	b.Deliver(12, 1000, 5000)
	b.Deliver(99, 1000, 5000)  // outside the plan
	steps[1].publishFailed(16) // 16 never reached the server: not lost

	if got := col.Loss(steps[0]); got != 1 {
		t.Errorf("step 0 lost %d, want 1 (b missed 5)", got)
	}
	if got := col.Loss(steps[1]); got != 1 {
		t.Errorf("step 1 lost %d, want 1 (b missed 15; 16 failed to publish)", got)
	}
	if d0, d1 := steps[0].dups.Load(), steps[1].dups.Load(); d0 != 1 || d1 != 2 {
		t.Errorf("duplicates = %d, %d, want 1, 2", d0, d1)
	}
	if got := col.unexpected.Load(); got != 1 {
		t.Errorf("unexpected = %d, want 1", got)
	}
	// Step 0 measures seqs 2..9 only: a's 8 and b's 7 (b missed 5).
	if got := steps[0].measured.Load(); got != 15 {
		t.Errorf("step 0 measured %d deliveries, want 15", got)
	}
	if got := steps[0].all.Load(); got != 19 {
		t.Errorf("step 0 counted %d first deliveries, want 19", got)
	}
	if got := steps[0].Latency.Max(); got != 9e6 {
		t.Errorf("step 0 max latency %d, want 9e6 (seq 9 of a)", got)
	}
	if got := steps[0].Latency.Min(); got != 1000 {
		t.Errorf("step 0 min latency %d, want 1000 (b)", got)
	}
}

func TestPlanStepsIsContiguous(t *testing.T) {
	steps := planSteps([]float64{5, 0.5}, 1e9, 10e9)
	if s := steps[0]; s.lo != 0 || s.warm != 5 || s.hi != 55 {
		t.Errorf("step 0 = [%d, %d, %d), want [0, 5, 55)", s.lo, s.warm, s.hi)
	}
	if s := steps[1]; s.lo != 55 || s.warm != 56 || s.hi != 61 {
		t.Errorf("step 1 = [%d, %d, %d), want [55, 56, 61)", s.lo, s.warm, s.hi)
	}
}

func TestScanMarkersFindsEveryMessageOfABatch(t *testing.T) {
	frame := []byte(`[{"seq":7,"catchup":false,"channel":"bench","message":{"csb":[3,1700000000000000001]},"type":"message"},` +
		`{"seq":8,"catchup":true,"message":{"csb":[4,1700000000000000002]}},{"seq":9,"message":{"csb":[x,1]}}]`)
	var s sink
	if n := scanMarkers(frame, 0, &s); n != 2 {
		t.Fatalf("found %d markers, want 2 (the malformed one skipped)", n)
	}
	if s.seqs[0] != 3 || s.seqs[1] != 4 || s.sents[1] != 1700000000000000002 {
		t.Errorf("markers = %v %v", s.seqs, s.sents)
	}
	if seq, ok := maxServerSeq(frame); !ok || seq != 9 {
		t.Errorf("maxServerSeq = %d %v, want 9", seq, ok)
	}
	if _, ok := maxServerSeq([]byte(`[]`)); ok {
		t.Error("maxServerSeq found a seq in []")
	}
	if got := string(appendMarker(nil, 12, 34, 0)); got != `{"csb":[12,34]}` {
		t.Errorf("appendMarker = %s", got)
	}
	if got := string(appendMarker(nil, 1, 2, 3)); got != `{"csb":[1,2],"pad":"xxx"}` {
		t.Errorf("appendMarker with padding = %s", got)
	}
}

func TestMediansTakeTheMiddleRun(t *testing.T) {
	rs := []Result{
		{Scenario: "fanout", Transport: "ws", Clients: 10, Rate: 5, Run: 1, P99ms: 30, Lost: 0},
		{Scenario: "fanout", Transport: "ws", Clients: 10, Rate: 5, Run: 2, P99ms: 10, Lost: 4},
		{Scenario: "fanout", Transport: "ws", Clients: 10, Rate: 5, Run: 3, P99ms: 20, Lost: 2},
		{Scenario: "fanout", Transport: "ws", Clients: 10, Rate: 9, Run: 1, P99ms: 99},
	}
	m := medians(rs)
	if len(m) != 1 {
		t.Fatalf("got %d medians, want 1 (a single run has none)", len(m))
	}
	if m[0].Run != 0 || m[0].P99ms != 20 || m[0].Lost != 2 {
		t.Errorf("median = run %d p99 %v lost %d, want 0, 20, 2", m[0].Run, m[0].P99ms, m[0].Lost)
	}
}

// The suite measures the idle cost over two heartbeat intervals; a flag
// overrides it, and the idle scenario keeps --duration.
func TestSuiteIdleWindowCoversWholeHeartbeatIntervals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{[]string{"suite"}, suiteIdleDuration},
		{[]string{"suite", "--idle-duration", "25s"}, 25 * time.Second},
		{[]string{"idle"}, 0},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if o.cfg.IdleDuration != tc.want {
			t.Errorf("%v: idle window %v, want %v", tc.args, o.cfg.IdleDuration, tc.want)
		}
	}
	if suiteIdleDuration < 2*5*time.Second {
		t.Errorf("suiteIdleDuration %v is shorter than two 5 s heartbeat intervals", suiteIdleDuration)
	}
}
