package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The backend outage fault: a node with a shared backend (Redis) loses it
// for a while and gets it back empty. While it is away the node must keep
// its clients attached, answer /readyz 503, and refuse every change with
// 503 {"error": "service unavailable: ..."}: the change was not made. The
// soak then treats such an answer as a refusal (a refused /message is
// required by nobody and must reach nobody; a refused /subscribe or
// /unsubscribe leaves the membership as it was; a refused /disconnect
// leaves the connection alive) instead of a 5xx to a valid request, but
// only when the request overlapped an outage window: from the moment the
// backend was taken away to outageGrace after it came back.

// soakBackend is a shared backend the soak can take away from its node.
type soakBackend interface {
	// Stop takes the backend away (kills it) until Restart.
	Stop()
	// Restart brings the backend back, empty.
	Restart()
	// HasSnapshot reports whether the backend holds a snapshot of the
	// node's state.
	HasSnapshot() bool
}

const (
	// outageFor is how long the backend stays away in one outage.
	outageFor = 2 * time.Second
	// outageGrace is how long after the backend came back a 503 is still
	// explained by the outage: the node retries the backend at least
	// once a second (redisbroker's MaxBackoff), then catches up.
	outageGrace = 5 * time.Second
	// outageReadyWithin bounds how long after the backend came back the
	// node may take to answer /readyz 200 again.
	outageReadyWithin = 15 * time.Second
	// outageSnapshotWithin bounds how long after the backend came back
	// the node may take to write its state into it.
	outageSnapshotWithin = 10 * time.Second
	// outageProbeEvery paces the /readyz probes while the backend is away.
	outageProbeEvery = 100 * time.Millisecond
)

// backendOutages is how many outages a main phase of d gets: one, or two
// when it lasts 30 s or more.
func backendOutages(d time.Duration) int {
	if d >= 30*time.Second {
		return 2
	}
	return 1
}

// outageWindow is one outage: from when the backend was taken away to
// when it was back (zero while it is away).
type outageWindow struct{ down, back time.Time }

// soakOutages records the outages of a node's backend and what the soak
// saw during them. A nil *soakOutages has no outage. Its methods are safe
// for concurrent use.
type soakOutages struct {
	mu      sync.Mutex
	windows []outageWindow
	refused map[string]int // "POST /message" → 503s the outages explain
	ends    int            // transports ended while the backend was away
	resumes int            // transports re-attached while the backend was away
}

func newSoakOutages() *soakOutages { return &soakOutages{refused: map[string]int{}} }

// begin notes that the backend goes away at at.
func (o *soakOutages) begin(at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.windows = append(o.windows, outageWindow{down: at})
}

// end notes that the backend is back at at.
func (o *soakOutages) end(at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.windows[len(o.windows)-1].back = at
}

// covers reports whether [from, to] overlaps an outage window, its grace
// included.
func (o *soakOutages) covers(from, to time.Time) bool {
	if o == nil {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.windows {
		if !to.Before(w.down) && (w.back.IsZero() || !from.After(w.back.Add(outageGrace))) {
			return true
		}
	}
	return false
}

// away reports whether at falls in an outage window, its grace included.
func (o *soakOutages) away(at time.Time) bool { return o.covers(at, at) }

// explains reports whether a 503 answer to a request sent at sent and
// answered at answered is a refusal the outages explain, and counts it
// under what ("POST /message").
func (o *soakOutages) explains(what string, sent, answered time.Time, body []byte) bool {
	var v struct{ Error string }
	if !o.covers(sent, answered) || json.Unmarshal(body, &v) != nil || !strings.HasPrefix(v.Error, "service unavailable: ") {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refused[what]++
	return true
}

// endedWhileAway counts a transport ended during an outage.
func (o *soakOutages) endedWhileAway() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ends++
}

// resumedWhileAway counts a transport re-attached during an outage.
func (o *soakOutages) resumedWhileAway() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.resumes++
}

// outageCounts is a copy of what the outages saw so far.
type outageCounts struct {
	outages       int
	refused       map[string]int
	ends, resumes int
}

func (o *soakOutages) counts() outageCounts {
	if o == nil {
		return outageCounts{refused: map[string]int{}}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	c := outageCounts{outages: len(o.windows), refused: map[string]int{}, ends: o.ends, resumes: o.resumes}
	for k, v := range o.refused {
		c.refused[k] = v
	}
	return c
}

// since is what happened between before and c.
func (c outageCounts) since(before outageCounts) outageCounts {
	d := outageCounts{outages: c.outages - before.outages, refused: map[string]int{}, ends: c.ends - before.ends, resumes: c.resumes - before.resumes}
	for k, v := range c.refused {
		if n := v - before.refused[k]; n > 0 {
			d.refused[k] = n
		}
	}
	return d
}

func (c outageCounts) String() string {
	keys := make([]string, 0, len(c.refused))
	total := 0
	for k, v := range c.refused {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, c.refused[k])
	}
	return fmt.Sprintf("%d backend outages: %d changes refused with 503 (%s), %d transports ended and %d resumed while the backend was away",
		c.outages, total, strings.Join(parts, ", "), c.ends, c.resumes)
}

// backendOutage takes the node's backend away for outageFor and brings it
// back empty, from the test's goroutine, while the phase's faults go on
// (a stall burst under way finishes first: see soakPool.turns).
// It checks that /readyz answers 503 all the while and 200 again within
// outageReadyWithin, that the node writes its state into the empty backend
// within outageSnapshotWithin, and that the outage refused some messages
// (the fault was exercised). The clients, the API and the ledger check the
// rest through node.outages.
func backendOutage(t *testing.T, pool *soakPool) {
	t.Helper()
	pool.turns.Lock()
	defer pool.turns.Unlock()
	node := pool.node
	b, o := node.opts.backend, node.outages
	before := o.counts()
	o.begin(time.Now())
	b.Stop()
	stopped := time.Now()
	probes, wrong := 0, map[int]int{}
	for {
		for _, n := range pool.nodes {
			if n.dead() {
				continue
			}
			probes++
			if code := n.readyz(); code != http.StatusServiceUnavailable {
				wrong[code]++
			}
		}
		if time.Since(stopped) >= outageFor {
			break
		}
		time.Sleep(outageProbeEvery) // paces the probes of a fault of fixed length
	}
	b.Restart()
	back := time.Now()
	o.end(back)
	pollUntil(t, outageReadyWithin, "/readyz 200 after the backend came back", func() bool {
		for _, n := range pool.nodes {
			if !n.dead() && n.readyz() != http.StatusOK {
				return false
			}
		}
		return true
	})
	ready := time.Since(back)
	pollUntil(t, outageSnapshotWithin, "a snapshot of the node's state in the empty backend", b.HasSnapshot)
	snapshot := time.Since(back)
	if len(wrong) > 0 {
		t.Errorf("backend outage: /readyz answered %v (status: probes) of %d probes while the backend was away, want 503", wrong, probes)
	}
	// Transports that end later in the grace are reported by the clients
	// ("transport ended during a backend outage").
	d := o.counts().since(before)
	if d.refused["POST /message"] == 0 {
		t.Errorf("backend outage: no POST /message was refused: the fault was not exercised")
	}
	t.Logf("%s backend outage (%s to %s): away %v, /readyz 503 on %d probes, ready again %v and a snapshot written %v after it came back; %s",
		time.Now().Format("15:04:05"), stopped.Format("15:04:05.000"), back.Format("15:04:05.000"), back.Sub(stopped).Round(time.Millisecond), probes, ready.Round(time.Millisecond),
		snapshot.Round(time.Millisecond), d)
}

// readyz asks the node's /readyz; 0 when it does not answer.
func (n *soakNode) readyz() int { return readyz(&testGateway{URL: n.URL}) }
