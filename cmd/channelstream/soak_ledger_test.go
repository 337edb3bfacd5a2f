package main

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// The soak's accounting. Every message the soak publishes carries a unique
// "id" (negative for the valid-looking messages inside bad requests, which
// must never be delivered). The ledger keeps, for each, its channel, when
// its /message request was sent and answered, and the status. Every
// connection a client makes is an incarnation: it records its channel
// memberships as time windows and every frame it receives, in seq order.
//
// The exactly-once rule, checked by verify:
//   - in one incarnation, no seq and no message id arrives twice, and seqs
//     follow each other except across a gap object, which must start right
//     after the last seq received (a silent hole is a loss);
//   - nothing arrives that was not accepted (2xx) or that the incarnation
//     could not have been subscribed to when it was published (phantom);
//   - an incarnation still alive at the end gets every accepted message
//     published (request sent) after it joined the channel (request
//     answered) and finished (answered) before it left (request sent).
//     Only incarnations the server cut as slow may miss some, and no more
//     than their gap objects announced.
//   - an incarnation that never stalled gets no gap object, but in
//     data-plane mode (soakLedger.resets set) one that arrives after the
//     backend came back empty, within resetGapWithin: the data plane lost
//     its entries and the node cannot prove the client missed nothing.
//     Such a gap excuses no loss: every required message must still come.
//
// Incarnations that ended early (disconnected by POST /disconnect, left on
// their own, or stopped by a node restart) are accounted for separately:
// duplicates and phantoms count, missing messages do not.

// soakMsg is one published message.
type soakMsg struct {
	channel        string
	sent, answered time.Time
	status         int // 0: no answer
}

// soakLedger is every message the soak published.
type soakLedger struct {
	mu        sync.Mutex
	msgs      map[int64]*soakMsg
	byChannel map[string][]int64
	next      int64
	// resets, when set (data-plane mode), are the backend outages: each
	// ended with the backend back empty, so a gap object arriving from
	// the outage's start to resetGapWithin after the backend came back
	// is honest (see afterReset).
	resets *soakOutages
}

// resetGapWithin bounds how long after the backend came back empty a gap
// object is explained by the reset: the node is ready again within
// outageReadyWithin, and notices the new epochs by then.
const resetGapWithin = outageReadyWithin

// afterReset reports whether a gap object that arrived at at is explained
// by a reset of the data plane.
func (l *soakLedger) afterReset(at time.Time) bool {
	if l.resets == nil {
		return false
	}
	o := l.resets
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.windows {
		if !at.Before(w.down) && (w.back.IsZero() || !at.After(w.back.Add(resetGapWithin))) {
			return true
		}
	}
	return false
}

func newSoakLedger() *soakLedger {
	return &soakLedger{msgs: map[int64]*soakMsg{}, byChannel: map[string][]int64{}}
}

// ids reserves n message ids.
func (l *soakLedger) ids(n int) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]int64, n)
	for i := range out {
		l.next++
		out[i] = l.next
	}
	return out
}

// record notes the outcome of one /message request that carried ids.
func (l *soakLedger) record(channel string, ids []int64, sent, answered time.Time, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.msgs[id] = &soakMsg{channel: channel, sent: sent, answered: answered, status: status}
		l.byChannel[channel] = append(l.byChannel[channel], id)
	}
}

// accepted counts the messages answered 2xx.
func (l *soakLedger) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m.status/100 == 2 {
			n++
		}
	}
	return n
}

// window is one membership of a channel: from the subscribing request
// (sent, answered) to the unsubscribing one (zero while still a member).
type window struct {
	subSent, subAnswered     time.Time
	unsubSent, unsubAnswered time.Time
}

// soakInc is one incarnation: one connection of a client. Its client's
// mutex guards it.
type soakInc struct {
	connID    string
	transport string
	staller   bool
	member    map[string][]*window
	ended     time.Time // zero while alive
	endReason string

	next    uint64 // the seq expected next
	got     map[int64]int32
	frames  int
	dupSeq  int // frames whose seq was not above the last one
	holes   int // seqs skipped without a gap object
	badGaps int // gap objects that did not start at the next seq
	gapped  uint64
	gaps    []string    // "from-to" of each gap object, for the report
	gapAt   []time.Time // when each gap object arrived
	gapLen  []uint64    // how many seqs each gap object announced
	other   int         // frames that are not messages
}

func newSoakInc(connID, transport string, staller bool) *soakInc {
	return &soakInc{connID: connID, transport: transport, staller: staller, member: map[string][]*window{}, next: 1, got: map[int64]int32{}}
}

// take accounts one delivered batch.
func (inc *soakInc) take(frames []wireFrame) {
	for _, f := range frames {
		inc.frames++
		if f.Type() == "gap" {
			from, to := f.uint("from_seq"), f.uint("to_seq")
			if from != inc.next || to < from {
				inc.badGaps++
			}
			inc.gapped += to - from + 1
			inc.gaps = append(inc.gaps, fmt.Sprintf("%d-%d after %d frames", from, to, inc.frames-1))
			inc.gapAt = append(inc.gapAt, time.Now())
			inc.gapLen = append(inc.gapLen, to-from+1)
			inc.next = max(inc.next, to+1)
			continue
		}
		seq := f.Seq()
		switch {
		case seq < inc.next:
			inc.dupSeq++
		case seq > inc.next:
			inc.holes += int(seq - inc.next)
			inc.next = seq + 1
		default:
			inc.next++
		}
		if f.Type() != "message" {
			inc.other++
			continue
		}
		id, ok := f.Obj("message")["id"].(float64)
		if !ok {
			inc.other++
			continue
		}
		inc.got[int64(id)]++
	}
}

// required reports whether m must reach inc (see the rule above).
func (inc *soakInc) required(m *soakMsg) bool {
	if !inc.ended.IsZero() || m.status/100 != 2 {
		return false
	}
	for _, w := range inc.member[m.channel] {
		if !w.subAnswered.IsZero() && !m.sent.Before(w.subAnswered) && (w.unsubSent.IsZero() || !m.answered.After(w.unsubSent)) {
			return true
		}
	}
	return false
}

// possible reports whether inc may have received m.
func (inc *soakInc) possible(m *soakMsg) bool {
	for _, w := range inc.member[m.channel] {
		if !m.answered.Before(w.subSent) && (w.unsubAnswered.IsZero() || !m.sent.After(w.unsubAnswered)) {
			return true
		}
	}
	return false
}

// soakTally is what verify found, summed over incarnations.
type soakTally struct {
	incarnations, alive, ended                   int
	endedBy                                      map[string]int
	deliveries, required                         int
	duplicates, dupSeqs, holes, badGaps, phantom int
	missing                                      int // required but not received, beyond what gaps announced
	toldLost                                     int // required, not received, announced by a gap (slow consumers)
	gappedAlive, gappedNonStaller                int
	resetGapped                                  int            // connections that never stalled gapped only by a data-plane reset
	slowCut, slowCutNonStaller                   int            // connections the node cut as slow
	slowCutNonStallerBy                          map[string]int // the non-stallers by transport
	otherFrames                                  int
	examples                                     []string
}

func (s *soakTally) example(format string, args ...any) {
	if len(s.examples) < 20 {
		s.examples = append(s.examples, fmt.Sprintf(format, args...))
	}
}

// failures lists the broken rules.
func (s *soakTally) failures() []string {
	var out []string
	for _, c := range []struct {
		n    int
		what string
	}{
		{s.duplicates, "duplicate deliveries"}, {s.dupSeqs, "repeated seqs"}, {s.holes, "seqs skipped without a gap"},
		{s.badGaps, "misplaced gap objects"}, {s.phantom, "phantom deliveries"}, {s.missing, "lost messages"},
		{s.gappedNonStaller, "gaps on connections that never stalled"},
		{s.slowCutNonStaller, fmt.Sprintf("connections that never stalled cut as slow consumers %v", s.slowCutNonStallerBy)},
	} {
		if c.n > 0 {
			out = append(out, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return out
}

func (s *soakTally) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d incarnations (%d alive at the check, %d ended: %v), %d deliveries, %d required all delivered but %d; "+
		"duplicates %d, repeated seqs %d, silent holes %d, bad gaps %d, phantoms %d; cut as slow: %d connections (%d of them not stallers: %v), losses announced by gaps: %d (on %d connections); non-stallers gapped only by a data-plane reset: %d; other frames %d",
		s.incarnations, s.alive, s.ended, s.endedBy, s.deliveries, s.required, s.missing,
		s.duplicates, s.dupSeqs, s.holes, s.badGaps, s.phantom, s.slowCut, s.slowCutNonStaller, s.slowCutNonStallerBy, s.toldLost, s.gappedAlive, s.resetGapped, s.otherFrames)
	return b.String()
}

// verify checks every incarnation of clients against the ledger; slowCut
// holds the connections the node says it cut as slow consumers. The caller
// must have stopped every publisher; clients may still be reading.
func (l *soakLedger) verify(clients []*soakClient, slowCut map[string]bool) *soakTally {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := &soakTally{endedBy: map[string]int{}}
	for _, c := range clients {
		c.mu.Lock()
		for _, inc := range c.incs {
			l.verifyInc(t, c, inc, slowCut[inc.connID])
		}
		c.mu.Unlock()
	}
	return t
}

func (l *soakLedger) verifyInc(t *soakTally, c *soakClient, inc *soakInc, slowCut bool) {
	t.incarnations++
	if slowCut {
		t.slowCut++
		if !inc.staller {
			t.slowCutNonStaller++
			if t.slowCutNonStallerBy == nil {
				t.slowCutNonStallerBy = map[string]int{}
			}
			t.slowCutNonStallerBy[inc.transport]++
		}
	}
	if inc.ended.IsZero() {
		t.alive++
	} else {
		t.ended++
		t.endedBy[inc.endReason]++
	}
	t.dupSeqs += inc.dupSeq
	t.holes += inc.holes
	t.badGaps += inc.badGaps
	t.otherFrames += inc.other
	if inc.dupSeq+inc.holes+inc.badGaps > 0 {
		t.example("%s %s %s: %d repeated seqs, %d holes, %d bad gaps", c.user, inc.transport, inc.connID, inc.dupSeq, inc.holes, inc.badGaps)
	}
	// excused is how many missing messages the gap objects may account
	// for: a reset's gaps to a client that never stalled excuse none.
	excused := inc.gapped
	if inc.gapped > 0 && !inc.staller && !slowCut {
		var reset uint64
		for i, at := range inc.gapAt {
			if l.afterReset(at) {
				reset += inc.gapLen[i]
			}
		}
		excused -= reset
		switch {
		case excused > 0:
			t.gappedNonStaller++
			t.example("%s %s %s: gaps %v but it never stalled", c.user, inc.transport, inc.connID, inc.gaps)
		default:
			t.resetGapped++
		}
	}
	for id, n := range inc.got {
		t.deliveries += int(n)
		if n > 1 {
			t.duplicates += int(n - 1)
			t.example("%s %s %s: message %d delivered %d times", c.user, inc.transport, inc.connID, id, n)
		}
		m := l.msgs[id]
		if m == nil || (m.status != 0 && m.status/100 != 2) || !inc.possible(m) {
			t.phantom++
			t.example("%s %s %s: message %d should not have come (%+v)", c.user, inc.transport, inc.connID, id, m)
		}
	}
	if !inc.ended.IsZero() {
		return
	}
	missing := 0
	var first, last *soakMsg // the earliest and latest sent of the missing
	lostOn := map[string]int{}
	for ch := range inc.member {
		for _, id := range l.byChannel[ch] {
			m := l.msgs[id]
			if !inc.required(m) {
				continue
			}
			t.required++
			if inc.got[id] == 0 {
				missing++
				lostOn[ch]++
				if first == nil || m.sent.Before(first.sent) {
					first = m
				}
				if last == nil || m.sent.After(last.sent) {
					last = m
				}
			}
		}
	}
	if missing > int(excused) {
		// One line per incarnation: how many, when they were sent, and
		// when its gap objects came (the outages' times are in the log).
		at := make([]string, len(inc.gapAt))
		for i, g := range inc.gapAt {
			at[i] = g.Format("15:04:05.000")
		}
		t.example("%s %s %s: %d messages lost %v (%d excused by gaps), sent from %v (answered %v) to %v (answered %v); gaps %v arrived at %v",
			c.user, inc.transport, inc.connID, missing, lostOn, excused, first.sent.Format("15:04:05.000"), first.answered.Format("15:04:05.000"),
			last.sent.Format("15:04:05.000"), last.answered.Format("15:04:05.000"), inc.gaps, at)
	}
	if inc.gapped > 0 {
		t.gappedAlive++
		told := min(missing, int(excused))
		t.toldLost += told
		missing -= told
	}
	t.missing += missing
}

// complete reports whether every alive incarnation has every message it
// must get (what gaps announced aside).
func (l *soakLedger) complete(clients []*soakClient, slowCut map[string]bool) bool {
	t := l.verify(clients, slowCut)
	return t.missing == 0
}
