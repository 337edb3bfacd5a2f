package main

import (
	"strings"
	"testing"
	"time"
)

func TestScanMarkersToleratesPrettyPrintedJSON(t *testing.T) {
	// Python channelstream indents its frames by 4; Centrifugo puts
	// several replies in one frame, one per line.
	pretty := []byte("[\n    {\n        \"seq\": 4,\n        \"message\": {\n            \"csb\": [\n                7,\n                1700000000000000009\n            ]\n        }\n    }\n]")
	var s sink
	if n := scanMarkers(pretty, 0, &s); n != 1 || s.seqs[0] != 7 || s.sents[0] != 1700000000000000009 {
		t.Errorf("pretty frame: %d markers %v %v, want seq 7", n, s.seqs, s.sents)
	}
	if seq, ok := maxServerSeq(pretty); !ok || seq != 4 {
		t.Errorf("maxServerSeq(pretty) = %d %v, want 4", seq, ok)
	}
	multi := []byte(`{"push":{"channel":"a","pub":{"data":{"csb":[1,5]},"offset":1}}}` + "\n" +
		`{"push":{"channel":"b","pub":{"data":{"csb":[2,6],"pad":"xx"},"offset":1}}}` + "\n{}")
	s = sink{}
	if n := scanMarkers(multi, 0, &s); n != 2 || s.seqs[1] != 2 {
		t.Errorf("Centrifugo frame: %d markers %v, want 2", n, s.seqs)
	}
	if !hasPing(multi) {
		t.Error("hasPing missed the {} line")
	}
	if hasPing([]byte(`{"push":{"pub":{"data":{}}}}`)) {
		t.Error("hasPing took an empty data object for a ping")
	}
}

func TestChannelsPlanRoutesToPersonalAndGroupAudiences(t *testing.T) {
	const n, group = 25, 10
	p := newChannelsPlan(n, group, 400)
	personal, groups := 0, 0
	for seq := range uint64(400) {
		lo, hi := p.audience(seq)
		ch := p.channelOf(seq)
		switch {
		case strings.HasPrefix(ch, "csb-u-"):
			personal++
			if hi-lo != 1 || ch != p.channelsOf(lo)[0] {
				t.Fatalf("seq %d: personal %s has audience [%d,%d)", seq, ch, lo, hi)
			}
		case strings.HasPrefix(ch, "csb-g-"):
			groups++
			for i := lo; i < hi; i++ {
				if p.channelsOf(i)[1] != ch {
					t.Fatalf("seq %d: subscriber %d of [%d,%d) is not in %s", seq, i, lo, hi, ch)
				}
			}
			if want := min(group, n-lo); hi-lo != want || lo%group != 0 {
				t.Fatalf("seq %d: group %s has audience [%d,%d)", seq, ch, lo, hi)
			}
		}
	}
	if personal < 150 || groups < 150 {
		t.Errorf("%d personal and %d group publishes of 400: want about half each", personal, groups)
	}
	if again := newChannelsPlan(n, group, 400); again.channelOf(17) != p.channelOf(17) {
		t.Error("two plans of the same size differ: every system must get the same publishes")
	}
}

func TestCollectorWithAudienceCountsOnlyMembers(t *testing.T) {
	// seq 0 → subscriber 1 alone; seq 1 → subscribers 0..2.
	aud := func(seq uint64) (int, int) {
		if seq == 0 {
			return 1, 2
		}
		return 0, 3
	}
	steps := []*Step{newStep(10, 0, 0, 2)}
	col := NewCollector(steps, aud)
	r := []*Receiver{col.NewReceiver(0), col.NewReceiver(1), col.NewReceiver(2)}
	r[0].Deliver(0, 0, 1) // not a member: unexpected, not counted
	r[1].Deliver(0, 0, 1)
	r[0].Deliver(1, 0, 1)
	r[2].Deliver(1, 0, 1)
	if got := col.Expected(steps[0]); got != 4 {
		t.Errorf("expected %d deliveries, want 4 (1 + 3)", got)
	}
	if got := col.Loss(steps[0]); got != 1 {
		t.Errorf("lost %d, want 1 (subscriber 1 missed seq 1)", got)
	}
	if got := col.unexpected.Load(); got != 1 {
		t.Errorf("unexpected %d, want 1", got)
	}
	if got := steps[0].all.Load(); got != 3 {
		t.Errorf("counted %d first deliveries, want 3", got)
	}
}

func TestStalledReceiversAreLeftOutOfLossAndDrops(t *testing.T) {
	steps := []*Step{newStep(10, 0, 0, 3)}
	col := NewCollector(steps, nil)
	healthy, stalled := col.NewReceiver(0), col.NewReceiver(1)
	for seq := range uint64(3) {
		healthy.Deliver(seq, 0, 1)
	}
	stalled.Deliver(0, 0, 1)
	stalled.Exclude()
	stalled.Deliver(1, 0, 1) // after the stall: not the healthy population's
	stalled.Ended(nil)
	if got := col.Loss(steps[0]); got != 0 {
		t.Errorf("lost %d, want 0: a stalled subscriber's misses are not losses", got)
	}
	if got := col.Expected(steps[0]); got != 3 {
		t.Errorf("expected %d, want 3 (the healthy subscriber's)", got)
	}
	if d, e := col.dropped.Load(), col.stalledEnded.Load(); d != 0 || e != 1 {
		t.Errorf("dropped %d, stalled ended %d, want 0 and 1", d, e)
	}
	healthy.Ended(nil)
	if d := col.dropped.Load(); d != 1 {
		t.Errorf("a healthy stream's end counted %d drops, want 1", d)
	}
}

func TestStallGateBlocksUntilUnstalled(t *testing.T) {
	var g stallGate
	g.wait() // open: returns at once
	g.stall()
	g.stall() // idempotent
	passed := make(chan struct{})
	go func() {
		g.wait()
		close(passed)
	}()
	select {
	case <-passed:
		t.Fatal("wait passed a stalled gate")
	case <-time.After(50 * time.Millisecond):
	}
	g.unstall()
	g.unstall()
	select {
	case <-passed:
	case <-time.After(5 * time.Second):
		t.Fatal("wait still blocked after unstall")
	}
}

func TestMetricSumReadsPrometheusText(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
go_goroutines_extra 7
# TYPE centrifugo_client_num_server_disconnects counter
centrifugo_client_num_server_disconnects{code="3008",transport="websocket"} 3
centrifugo_client_num_server_disconnects{code="3012",transport="websocket"} 5
centrifugo_client_num_server_disconnects{code="3008",transport="sse"} 1
# TYPE centrifugo_client_connections_inflight gauge
`
	if v, ok := metricSum(text, "go_goroutines", nil); !ok || v != 42 {
		t.Errorf("go_goroutines = %v %v, want 42 (not the _extra series)", v, ok)
	}
	if v, ok := metricSum(text, "centrifugo_client_num_server_disconnects", []string{`code="3008"`}); !ok || v != 4 {
		t.Errorf("slow disconnects = %v %v, want 4", v, ok)
	}
	if got := metricValue(text, "centrifugo_client_connections_inflight", nil); got != 0 {
		t.Errorf("declared series without samples = %d, want 0", got)
	}
	if got := metricValue(text, "nosuch", nil); got != -1 {
		t.Errorf("missing series = %d, want -1", got)
	}
}

func TestCentrifugoHandshakeAndToken(t *testing.T) {
	frame := string(centrifugoHandshake("TOKEN", []string{"a", "b"}))
	want := `{"connect":{"name":"csbench","token":"TOKEN"},"id":1}` + "\n" +
		`{"id":2,"subscribe":{"channel":"a"}}` + "\n" + `{"id":3,"subscribe":{"channel":"b"}}`
	if frame != want {
		t.Errorf("handshake frame:\n%s\nwant\n%s", frame, want)
	}
	// An RFC 7519 HS256 token, checked against a signature made with Python's hmac module.
	tok := signJWT("secret", map[string]any{"sub": "csb-1"})
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" || parts[1] != "eyJzdWIiOiJjc2ItMSJ9" {
		t.Fatalf("token %s: want header {alg HS256, typ JWT} and payload {sub csb-1}", tok)
	}
	if parts[2] != "jXEi3I7zR1JYsFkPxCfgKR5Ks2V-BPh_YZsgiXdYzf4" {
		t.Errorf("signature %s does not match HMAC-SHA256 of the signing input", parts[2])
	}
}

func TestRaiseFileLimitNamesTheSystemLimit(t *testing.T) {
	if err := raiseFileLimit(10); err != nil {
		t.Errorf("raiseFileLimit(10) = %v", err)
	}
}
