package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Soak parameters. Each connection costs two sockets (client and server)
// against the process's open-file limit, so 2 000 at a time stay far
// below 20 000.
const (
	// soakRounds is how many rounds are measured after the warm-up round.
	soakRounds = 2
	// soakGoroutineSlack is how many goroutines more than the baseline
	// count as "back": timers and runtime helpers come and go.
	soakGoroutineSlack = 10
	// soakHeapSlack is how much HeapInuse may exceed the baseline: even
	// right after full collections it wanders by a megabyte or two from
	// round to round (partly filled spans). A leak of 800 bytes per
	// connection (1 600 under -race) over the measured rounds exceeds it.
	soakHeapSlack = 3 << 20
)

// soakConns is how many connections attach in each round, a third per
// transport: 2 000, or 1 000 under the race detector (race_on_test.go),
// which slows every goroutine down several times: there 2 000 took 20-25 s
// on a busy 2-CPU machine, and some 9 000 goroutines starved of CPU came
// close to missing the WebSocket pong deadline (3 heartbeat intervals).
var soakConns = func() int {
	if raceEnabled {
		return 1000
	}
	return 2000
}()

// TestSoakAttachReceiveDetachCollect attaches soakConns connections over
// the three transports, delivers one message to each, lets them go and
// waits until the collector removed them, round after round; then the
// goroutine count and the heap must come back to what they were after a
// warm-up round.
func TestSoakAttachReceiveDetachCollect(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		// Generous against a CPU saturated by thousands of clients and
		// servers in one process: an attached transport is only kept from
		// the collector by its heartbeats, and a WebSocket must answer a
		// ping within 3 heartbeat intervals.
		c.ConnTimeout = 3 * time.Second
		c.HeartbeatInterval = time.Second
		c.LongpollTimeout = time.Second
		c.LongpollGather = 20 * time.Millisecond
	})
	api := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	polls := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: soakConns}}
	quiet := func() {
		api.CloseIdleConnections()
		polls.CloseIdleConnections()
		http.DefaultClient.CloseIdleConnections()
	}
	t.Cleanup(quiet)

	fresh := measureFootprint()
	start := time.Now()
	soakRound(t, tg, api, polls, 0)
	quiet()
	base := settleFootprint(time.Second) // a warm-up round sized the pools and the users map
	t.Logf("fresh node: %d goroutines, HeapInuse %s (HeapAlloc %s); after the warm-up round: %d goroutines, HeapInuse %s (HeapAlloc %s)",
		fresh.goroutines, mibs(fresh.heap), mibs(fresh.live), base.goroutines, mibs(base.heap), mibs(base.live))

	for r := 1; r <= soakRounds; r++ {
		soakRound(t, tg, api, polls, r)
		quiet()
		f := measureFootprint()
		t.Logf("round %d: %d goroutines, HeapInuse %s (HeapAlloc %s)", r, f.goroutines, mibs(f.heap), mibs(f.live))
	}
	var after footprint
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = measureFootprint()
		if after.goroutines <= base.goroutines+soakGoroutineSlack && after.heap <= base.heap+soakHeapSlack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d rounds of %d connections: %d goroutines (baseline %d), HeapInuse %s (baseline %s)",
				soakRounds, soakConns, after.goroutines, base.goroutines, mibs(after.heap), mibs(base.heap))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("after %d rounds of %d connections in %v: %d goroutines (baseline %d), HeapInuse %s (baseline %s, %+.1f%%), HeapAlloc %s (baseline %s)",
		soakRounds, soakConns, time.Since(start).Round(time.Millisecond), after.goroutines, base.goroutines,
		mibs(after.heap), mibs(base.heap), 100*(float64(after.heap)-float64(base.heap))/float64(base.heap),
		mibs(after.live), mibs(base.live))
}

// soakRound connects soakConns users to channel "soak", attaches each over
// one of the three transports, publishes one message, checks that every
// client got it, closes every client and waits until the collector has
// removed every connection and the transports are idle.
func soakRound(t *testing.T, tg *testGateway, api, polls *http.Client, round int) {
	t.Helper()
	began := time.Now()
	subs := make([]subscriber, soakConns)
	defer func() { // on failure too
		_ = forEachParallel(soakConns, 64, func(i int) error {
			if subs[i] != nil {
				subs[i].Close()
			}
			return nil
		})
	}()
	// Each connection attaches right after /connect: a connection left
	// unattached for conn_timeout would be collected first.
	err := forEachParallel(soakConns, 64, func(i int) error {
		code, b, err := tg.post(api, "POST", "/connect", map[string]any{
			"username": fmt.Sprintf("soak-%d", i), "channels": []string{"soak"},
			// The default answer lists every member of the channel: O(n²)
			// over the round, which would dominate it.
			"info": map[string]any{"include_users": false, "include_history": false},
		})
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("connect %d: %d %s %v", i, code, b, err)
		}
		var v struct {
			ConnID string `json:"conn_id"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("connect %d: %s: %w", i, b, err)
		}
		switch i % 3 {
		case 0:
			ws, err := dialWS(tg.URL, v.ConnID)
			if err != nil {
				return err
			}
			subs[i] = ws
		case 1:
			sse, err := dialSSE(tg.URL, v.ConnID)
			if err != nil {
				return err
			}
			subs[i] = sse
		default:
			subs[i] = startPoll(tg.URL, v.ConnID, polls)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("round %d: attach: %v", round, err)
	}
	attached := time.Since(began)
	peak := runtime.NumGoroutine()

	want := fmt.Sprintf("round %d", round)
	if code, b, err := tg.post(api, "POST", "/message", []map[string]any{{"user": "soak", "channel": "soak", "message": msgText(want)}}); err != nil || code != http.StatusOK {
		t.Fatalf("round %d: publish: %d %s %v", round, code, b, err)
	}
	var delivered atomic.Int64
	err = forEachParallel(soakConns, 64, func(i int) error {
		deadline := time.Now().Add(20 * time.Second)
		for {
			batch, err := subs[i].Next(time.Until(deadline))
			if err != nil {
				return fmt.Errorf("client %d (%T): %w", i, subs[i], err)
			}
			for _, f := range batch {
				if f.Text() == want {
					delivered.Add(1)
					return nil
				}
			}
		}
	})
	if err != nil {
		t.Fatalf("round %d: receive (%d delivered): %v", round, delivered.Load(), err)
	}
	received := time.Since(began)

	_ = forEachParallel(soakConns, 64, func(i int) error { subs[i].Close(); return nil })
	pollUntil(t, 15*time.Second, fmt.Sprintf("round %d: every connection collected", round), func() bool {
		a := tg.g.hub.Admin(context.Background())
		return a.TotalConnections == 0 && tg.g.ws.Open() == 0 && tg.g.sse.Active() == 0 && tg.g.longpoll.Pending() == 0
	})
	t.Logf("round %d: %d attached in %v (%d goroutines), all received by %v, all collected by %v",
		round, soakConns, attached.Round(time.Millisecond), peak, received.Round(time.Millisecond),
		time.Since(began).Round(time.Millisecond))
}

// forEachParallel runs f(0..n-1) on workers goroutines and returns the first error.
func forEachParallel(n, workers int, f func(i int) error) error {
	var (
		next  atomic.Int64
		first error
		once  sync.Once
		wg    sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n)) // stop handing out work
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// footprint is the process's goroutine count and live heap.
type footprint struct {
	goroutines int
	heap       uint64 // HeapInuse after a full collection
	live       uint64 // HeapAlloc then: the bytes of live objects
}

// measureFootprint collects garbage and reads the footprint.
func measureFootprint() footprint {
	runtime.GC()
	runtime.GC() // the second one also frees what the first one's finalizers and pools let go
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return footprint{goroutines: runtime.NumGoroutine(), heap: m.HeapInuse, live: m.HeapAlloc}
}

// settleFootprint measures until two readings a little apart agree on the goroutine
// count (the clients' and servers' goroutines of the last round are
// exiting), or for at most within.
func settleFootprint(within time.Duration) footprint {
	deadline := time.Now().Add(within)
	cur := measureFootprint()
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		next := measureFootprint()
		if next.goroutines == cur.goroutines {
			return next
		}
		cur = next
	}
	return cur
}

// mibs formats a byte count in MiB.
func mibs(n uint64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }
