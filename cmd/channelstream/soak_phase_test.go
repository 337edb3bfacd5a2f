package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// soakLogEvery is how often a phase logs its progress.
const soakLogEvery = 30 * time.Second

// soakPhase runs pool for d with every fault on: its clients' own faults,
// the app's disconnections, the stall bursts, the publisher and the
// malformed requests, plus outages of the node's backend spread evenly
// over the phase (see backendOutage) and, with kill, the SIGKILL of a node
// in the last stretch between them (see killNode). With join the clients
// connect first; otherwise their loops already run. Then the faults stop,
// and once delivery settled it returns the tally and the injector of
// malformed requests.
func soakPhase(t *testing.T, name string, pool *soakPool, cfg soakSettings, d time.Duration, join bool, outages int, kill bool) (*soakTally, *badInjector) {
	t.Helper()
	if join {
		began := time.Now()
		pool.join()
		t.Logf("%s %s: %d clients connected and attached in %v", time.Now().Format("15:04:05"), name, len(pool.clients), time.Since(began).Round(time.Millisecond))
		pool.run()
	}
	bad := newBadInjector(pool.node, pool.ledger, pool.errs)
	stops := []func(){
		background(func(ctx context.Context) { pool.publish(ctx, cfg.rate) }),
		background(pool.kick),
		background(pool.stallBursts),
		background(func(ctx context.Context) { bad.run(ctx, cfg.badRate) }),
	}
	pool.faults.Store(true)
	start := time.Now()
	end, nextLog := start.Add(d), start.Add(soakLogEvery)
	var outageAt []time.Time
	for i := 1; i <= outages; i++ {
		outageAt = append(outageAt, start.Add(d*time.Duration(i)/time.Duration(outages+1)))
	}
	var killAt time.Time // halfway between the last outage and the end
	if kill {
		killAt = start.Add(d * time.Duration(2*outages+1) / time.Duration(2*outages+2))
	}
	for time.Now().Before(end) {
		next := end
		if nextLog.Before(next) {
			next = nextLog
		}
		if len(outageAt) > 0 && outageAt[0].Before(next) {
			next = outageAt[0]
		}
		if !killAt.IsZero() && killAt.Before(next) {
			next = killAt
		}
		time.Sleep(time.Until(next)) // the phase's schedule: faults run meanwhile
		if len(outageAt) > 0 && !time.Now().Before(outageAt[0]) {
			outageAt = outageAt[1:]
			backendOutage(t, pool)
		}
		if !killAt.IsZero() && !time.Now().Before(killAt) {
			killAt = time.Time{}
			killNode(t, pool)
		}
		if time.Now().Before(nextLog) && time.Now().Before(end) {
			continue
		}
		nextLog = time.Now().Add(soakLogEvery)
		m := pool.node.metrics()
		t.Logf("%s %s: %v left; node: %.0f connections (%.0f ws, %.0f sse, %.0f long-poll attached), %.0f goroutines, %.0f published, %.0f delivered, %.0f slow-consumer cuts; %s",
			time.Now().Format("15:04:05"), name, max(0, time.Until(end)).Round(time.Second), m["channelstream_connections"],
			m["channelstream_connections_attached{transport=websocket}"], m["channelstream_connections_attached{transport=sse}"],
			m["channelstream_connections_attached{transport=longpoll}"], m["go_goroutines"],
			m["channelstream_messages_published_total"], m["channelstream_messages_delivered_total"],
			m["channelstream_slow_consumer_disconnects_total"], pool.faultSummary())
	}
	pool.faults.Store(false)
	for _, stop := range stops {
		stop()
	}
	began := time.Now()
	tally := pool.settle(60 * time.Second)
	t.Logf("%s: delivery settled %v after the faults stopped", name, time.Since(began).Round(time.Millisecond))
	for _, n := range pool.gate.notes() {
		t.Logf("%s: a staller gave a silent connection up at %s", name, n)
	}
	if len(tally.failures()) > 0 {
		pool.draining.Store(true) // the dump ends the node's transports: not more failures
		pool.node.dumpGoroutines()
		checkTally(t, name, tally)
		t.Fatalf("%s: delivery did not settle; the node's goroutines are at the end of its log", name)
	}
	return tally, bad
}

// checkTally fails t for every broken rule of the ledger.
func checkTally(t *testing.T, phase string, tally *soakTally) {
	t.Helper()
	t.Logf("%s: %s", phase, tally)
	if f := tally.failures(); len(f) > 0 {
		t.Errorf("%s: %s; e.g.\n  %s", phase, strings.Join(f, ", "), strings.Join(tally.examples, "\n  "))
	}
	if tally.required == 0 || tally.deliveries == 0 {
		t.Errorf("%s: nothing was required or delivered: the soak did not run", phase)
	}
}

// checkShutdownEnds waits until every client of pool.node saw its
// transport end after SIGTERM, and checks how: WebSocket with close 1012, SSE with the
// end of the stream, long-poll with 503 (or no answer once the node is
// gone). It returns the counts.
func checkShutdownEnds(t *testing.T, pool *soakPool) map[string]int64 {
	t.Helper()
	total := func(m map[string]int64) int {
		n := 0
		for _, v := range m {
			n += int(v)
		}
		return n
	}
	deadline := time.Now().Add(15 * time.Second)
	ends := pool.shutdownSummary()
	want := pool.onNode(pool.node)
	for total(ends) < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		ends = pool.shutdownSummary()
	}
	if total(ends) != want {
		t.Errorf("%d of the %d clients of the stopped node saw their transport end after SIGTERM: %v", total(ends), want, ends)
	}
	for k := range ends {
		switch k {
		case "websocket: 1012", "sse: end of stream", "longpoll: 503", "longpoll: error":
		default:
			t.Errorf("after SIGTERM, %d clients saw %q", ends[k], k)
		}
	}
	return ends
}
