package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The fault soak's checkers run in every `make test`: the ledger must catch
// every breach of the exactly-once rule, and every malformed request of the
// table must get the answer it expects from a node.

// TestSoakLedgerCatchesEveryBreach feeds the ledger one incarnation per
// breach and checks that each is counted, and that a clean one passes.
func TestSoakLedgerCatchesEveryBreach(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	l := newSoakLedger()
	l.record("a", []int64{1}, at(10), at(11), 200)
	l.record("a", []int64{2}, at(20), at(21), 200)
	l.record("a", []int64{3}, at(30), at(31), 200)
	l.record("a", []int64{-1}, at(40), at(41), 422) // refused
	msg := func(seq uint64, id int64) wireFrame {
		return wireFrame{"type": "message", "seq": float64(seq), "message": map[string]any{"id": float64(id)}}
	}
	gap := func(from, to uint64) wireFrame {
		return wireFrame{"type": "gap", "from_seq": float64(from), "to_seq": float64(to)}
	}
	client := func(staller bool, frames ...wireFrame) *soakClient {
		inc := newSoakInc("conn", "websocket", staller)
		inc.member["a"] = []*window{{subSent: at(0), subAnswered: at(1)}}
		inc.take(frames)
		return &soakClient{user: "u", inc: inc, incs: []*soakInc{inc}}
	}
	for _, c := range []struct {
		name    string
		client  *soakClient
		slowCut bool
		want    func(*soakTally) int
	}{
		{"a duplicate message", client(false, msg(1, 1), msg(2, 2), msg(3, 3), msg(4, 3)), false, func(s *soakTally) int { return s.duplicates }},
		{"a repeated seq", client(false, msg(1, 1), msg(2, 2), msg(2, 2), msg(3, 3)), false, func(s *soakTally) int { return s.dupSeqs }},
		{"a silent hole", client(false, msg(1, 1), msg(3, 3)), false, func(s *soakTally) int { return s.holes }},
		{"a lost message", client(false, msg(1, 1), msg(2, 2)), false, func(s *soakTally) int { return s.missing }},
		{"a refused message delivered", client(false, msg(1, 1), msg(2, 2), msg(3, 3), msg(4, -1)), false, func(s *soakTally) int { return s.phantom }},
		{"a misplaced gap", client(true, msg(1, 1), gap(3, 3)), true, func(s *soakTally) int { return s.badGaps }},
		{"a gap to a client that never stalled", client(false, msg(1, 1), gap(2, 2), msg(3, 3)), false, func(s *soakTally) int { return s.gappedNonStaller }},
		{"a client that never stalled cut as slow", client(false, msg(1, 1), gap(2, 2), msg(3, 3)), true, func(s *soakTally) int { return s.slowCutNonStaller }},
		{"a loss beyond what the gap announced", client(true, msg(1, 1), gap(2, 2)), true, func(s *soakTally) int { return s.missing }},
	} {
		t.Run(c.name+" is caught", func(t *testing.T) {
			tally := l.verify([]*soakClient{c.client}, map[string]bool{"conn": c.slowCut})
			if c.want(tally) == 0 || len(tally.failures()) == 0 {
				t.Errorf("not caught: %s", tally)
			}
		})
	}
	t.Run("a clean delivery passes, and a slow consumer's announced loss is accounted for", func(t *testing.T) {
		clean := client(false, msg(1, 1), msg(2, 2), msg(3, 3))
		clean.inc.connID = "clean" // not the one cut
		slow := client(true, msg(1, 1), gap(2, 2), msg(3, 3))
		tally := l.verify([]*soakClient{clean, slow}, map[string]bool{"conn": true})
		if f := tally.failures(); len(f) > 0 || tally.toldLost != 1 || tally.deliveries != 5 {
			t.Errorf("%v: %s", f, tally)
		}
	})

	// In data-plane mode a gap that arrives after the backend came back
	// empty is honest, to anyone; it excuses no loss, and a gap outside
	// the reset's window is still one too many.
	reset := func(down, back time.Time) *soakOutages {
		o := newSoakOutages()
		o.begin(down)
		o.end(back)
		return o
	}
	now := time.Now()
	for _, c := range []struct {
		name   string
		resets *soakOutages
		client *soakClient
		failed func(*soakTally) int // 0: nothing fails
	}{
		{"a gap after a data-plane reset passes", reset(now.Add(-time.Second), now), client(false, msg(1, 1), msg(2, 2), msg(3, 3), gap(4, 4)), nil},
		{"a gap long after the reset is caught", reset(now.Add(-time.Minute), now.Add(-time.Minute+time.Second)), client(false, msg(1, 1), msg(2, 2), msg(3, 3), gap(4, 4)),
			func(s *soakTally) int { return s.gappedNonStaller }},
		{"a loss behind a reset's gap is caught", reset(now.Add(-time.Second), now), client(false, msg(1, 1), gap(2, 3)), func(s *soakTally) int { return s.missing }},
		{"a duplicate after a reset's gap is caught", reset(now.Add(-time.Second), now), client(false, msg(1, 1), msg(2, 2), msg(3, 3), gap(4, 4), msg(5, 3)),
			func(s *soakTally) int { return s.duplicates }},
	} {
		t.Run(c.name, func(t *testing.T) {
			l.resets = c.resets
			t.Cleanup(func() { l.resets = nil })
			tally := l.verify([]*soakClient{c.client}, nil)
			switch f := tally.failures(); {
			case c.failed == nil && (len(f) > 0 || tally.resetGapped != 1):
				t.Errorf("%v: %s", f, tally)
			case c.failed != nil && (c.failed(tally) == 0 || len(f) == 0):
				t.Errorf("not caught: %s", tally)
			}
		})
	}
}

// TestSoakBadRequestsAnswered sends every malformed request of the soak's
// table once to a node and checks its answer.
func TestSoakBadRequestsAnswered(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.MaxBodyBytes = soakMaxBody })
	errs := newSoakErrors()
	b := newBadInjector(&soakNode{URL: tg.URL, secret: tg.Secret}, newSoakLedger(), errs)
	t.Cleanup(b.client.CloseIdleConnections)
	for _, c := range b.cases {
		b.send(c)
	}
	b.unknownWebSocket()
	errs.report(t)
	if !strings.HasPrefix(b.summary(), fmt.Sprint(len(b.cases)+1, " bad requests")) {
		t.Errorf("%s, want one of each kind", b.summary())
	}
}

// TestSoakOutageExplainsOnlyItsRefusals checks how the soak's API judges a
// 503: a refusal in the shape the node gives it, to a request that
// overlapped a backend outage (its grace included), is counted as a
// refusal; any other 503 is a 5xx to a valid request.
func TestSoakOutageExplainsOnlyItsRefusals(t *testing.T) {
	body := `{"error": "service unavailable: replicate message: backend unavailable; retry later"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		if r.URL.Path == "/message" {
			_, _ = io.WriteString(w, body)
		} else {
			_, _ = io.WriteString(w, `{"status": "unavailable"}`)
		}
	}))
	t.Cleanup(srv.Close)
	now := time.Now()
	for _, c := range []struct {
		name    string
		windows []outageWindow
		path    string
		allowed bool
	}{
		{"a refusal while the backend is away is allowed", []outageWindow{{down: now.Add(-time.Second)}}, "/message", true},
		{"a refusal in the grace after the outage is allowed", []outageWindow{{down: now.Add(-3 * time.Second), back: now.Add(-time.Second)}}, "/message", true},
		{"a refusal after the grace is a failure", []outageWindow{{down: now.Add(-outageGrace - 3*time.Second), back: now.Add(-outageGrace - time.Second)}}, "/message", false},
		{"a refusal before the outage is a failure", []outageWindow{{down: now.Add(time.Minute)}}, "/message", false},
		{"a refusal without an outage is a failure", nil, "/message", false},
		{"a 503 of another shape is a failure even while away", []outageWindow{{down: now.Add(-time.Second)}}, "/subscribe", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := newSoakOutages()
			o.windows = c.windows
			errs := newSoakErrors()
			api := &soakAPI{node: &soakNode{URL: srv.URL, secret: "s", outages: o}, errs: errs, draining: new(atomic.Bool), client: srv.Client()}
			if code, _, err := api.call("POST", c.path, map[string]any{}); err != nil || code != http.StatusServiceUnavailable {
				t.Fatalf("%d %v", code, err)
			}
			counted := o.counts().refused["POST "+c.path] == 1
			failed := errs.counts["5xx to a valid request"] == 1
			if counted != c.allowed || failed == c.allowed {
				t.Errorf("counted as a refusal %v, reported as a failure %v; want allowed %v", counted, failed, c.allowed)
			}
		})
	}
}

// TestSoakRefusedChurnKeepsMembership checks that a /subscribe or
// /unsubscribe refused with 503 during a backend outage leaves the
// membership windows as they were, so that the ledger neither requires
// nor allows what the refused change would have.
func TestSoakRefusedChurnKeepsMembership(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error": "service unavailable: replicate subscribe: backend unavailable; retry later"}`)
	}))
	t.Cleanup(srv.Close)
	o := newSoakOutages()
	o.begin(time.Now())
	errs := newSoakErrors()
	p := &soakPool{errs: errs, node: &soakNode{URL: srv.URL, secret: "s", outages: o}}
	p.api = &soakAPI{node: p.node, errs: errs, draining: &p.draining, client: srv.Client()}
	inc := newSoakInc("conn", "websocket", false)
	c := &soakClient{pool: p, user: "u", inc: inc, incs: []*soakInc{inc}}

	c.churn() // a refused /subscribe
	if c.churnIn || len(inc.member[soakChurnChannel]) != 0 {
		t.Errorf("after a refused /subscribe: member %v, windows %v", c.churnIn, inc.member[soakChurnChannel])
	}
	joined := &window{subSent: time.Now(), subAnswered: time.Now()}
	inc.member[soakChurnChannel] = []*window{joined}
	c.churnIn = true
	c.churn() // a refused /unsubscribe
	if !c.churnIn || len(inc.member[soakChurnChannel]) != 1 || !joined.unsubSent.IsZero() || !joined.unsubAnswered.IsZero() {
		t.Errorf("after a refused /unsubscribe: member %v, window %+v", c.churnIn, *joined)
	}
	if len(errs.counts) > 0 || o.counts().refused["POST /subscribe"] != 1 || o.counts().refused["POST /unsubscribe"] != 1 {
		t.Errorf("errors %v, refusals %v", errs.counts, o.counts().refused)
	}
}
