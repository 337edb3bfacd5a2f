package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSoakFaults is the soak under faults (make soak). It runs the real
// binary and thousands of real clients over the three transports; see
// runFaultSoak for what it does and asserts. It only runs with
// CHANNELSTREAM_SOAK=1, and takes about SOAK_DURATION × 1.25 plus a minute.
//
// Knobs (environment): SOAK_DURATION (default 2m: the main phase; the
// phase after the restart lasts a quarter of it, at least 15 s),
// SOAK_CLIENTS (default 3000, a third per transport), SOAK_RATE (POST
// /message requests per second, a fifth of them with three messages;
// default 20), SOAK_BAD_RATE (malformed requests per second, default 100).
func TestSoakFaults(t *testing.T) {
	if os.Getenv("CHANNELSTREAM_SOAK") != "1" {
		t.Skip("the fault soak runs with CHANNELSTREAM_SOAK=1 (make soak)")
	}
	runFaultSoak(t, soakSettingsFromEnv(t), soakNodeOptions{name: "memory"})
}

// soakSettings sizes a soak.
type soakSettings struct {
	duration time.Duration // the main phase
	clients  int
	rate     int // POST /message requests per second
	badRate  int // malformed requests per second
}

func soakSettingsFromEnv(t *testing.T) soakSettings {
	s := soakSettings{duration: 2 * time.Minute, clients: 3000, rate: 20, badRate: 100}
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("SOAK_DURATION=%q: want a duration such as 90s", v)
		}
		s.duration = d
	}
	for key, dst := range map[string]*int{"SOAK_CLIENTS": &s.clients, "SOAK_RATE": &s.rate, "SOAK_BAD_RATE": &s.badRate} {
		if v := os.Getenv(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive number", key, v)
			}
			*dst = n
		}
	}
	// Each client holds one socket here and one in the node, plus those
	// of the API calls and the bad requests, against a file limit of
	// typically 20 000 per process.
	if s.clients > 8000 {
		t.Fatalf("SOAK_CLIENTS=%d: at most 8000 clients fit the usual 20 000 open files", s.clients)
	}
	return s
}

// soakNodeOptions says how the soak starts its node, so that a variant
// with another backend only has to say how to start it (the Redis variant:
// soak_redis_test.go).
type soakNodeOptions struct {
	// name labels the variant in the logs.
	name string
	// args are extra flags for every start of the node.
	args []string
	// env is extra environment for every start.
	env []string
	// keepsConnections says that connections survive a restart of the
	// node (a shared backend): clients then resume the same connection
	// with their last seq instead of connecting again, and the
	// exactly-once accounting carries on across the restart.
	keepsConnections bool
	// backend, when set, is the shared backend the node depends on: the
	// main phase then takes it away and brings it back empty now and then
	// (the backend outage fault, soak_outage_test.go).
	backend soakBackend
	// nodes is how many nodes share the backend (0 means 1): with more,
	// clients and API calls are spread over them and the main phase kills
	// one (soak_nodes_test.go). It needs keepsConnections.
	nodes int
	// dataPlane says the nodes run the data plane (redis_data_plane): a
	// backend that comes back empty lost its entries, and the gap objects
	// that tell clients so are expected (soakLedger.resets).
	dataPlane bool
}

// soakGrace is the node's shutdown_grace in the soak.
const soakGrace = 5 * time.Second

// soakConnTimeout is the node's conn_timeout in the soak (the default).
const soakConnTimeout = 15 * time.Second

// soakNode is the binary under test, started and restarted on one port.
type soakNode struct {
	t      *testing.T
	name   string // node0, node1, …
	bin    string
	opts   soakNodeOptions
	secret string
	port   string
	URL    string
	runs   []*runningBinary // every start, the current one last
	// outages are the outages of the nodes' backend, which explain the
	// 503s answered meanwhile (one record for every node).
	outages *soakOutages
	// killed is when the current run was killed (nil while it runs).
	killed atomic.Pointer[time.Time]
}

// start runs the binary (on the port of the first start), with gctrace
// on: its lines give the live heap after each collection.
func (n *soakNode) start() {
	args := append([]string{"--host", "127.0.0.1", "--port", n.port, "--secret", n.secret,
		"--shutdown_grace", soakGrace.String(), "--max_body_bytes", strconv.Itoa(soakMaxBody), "--log_level", "INFO"},
		n.opts.args...)
	rb := startBinary(n.t, n.bin, append([]string{"GODEBUG=gctrace=1"}, n.opts.env...), args...)
	n.runs = append(n.runs, rb)
	n.killed.Store(nil)
	n.URL = "http://" + rb.addr
	n.port = rb.addr[strings.LastIndexByte(rb.addr, ':')+1:]
}

func (n *soakNode) current() *runningBinary { return n.runs[len(n.runs)-1] }

// stop sends SIGTERM and waits for the exit, which must be 0 and come
// within shutdown_grace and a margin. It returns how long it took.
// dumpGoroutines makes the node write every goroutine's stack to its log
// and exit (SIGQUIT), for a failure that needs explaining.
func (n *soakNode) dumpGoroutines() {
	n.t.Helper()
	rb := n.current()
	if err := rb.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		n.t.Errorf("SIGQUIT: %v", err)
		return
	}
	select {
	case <-rb.done:
	case <-time.After(10 * time.Second):
		n.t.Errorf("still running 10s after SIGQUIT")
	}
}

func (n *soakNode) stop() time.Duration {
	n.t.Helper()
	rb := n.current()
	began := time.Now()
	if err := rb.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.t.Fatal(err)
	}
	select {
	case <-rb.done:
	case <-time.After(soakGrace + 15*time.Second):
		n.t.Fatalf("still running %v after SIGTERM", soakGrace+15*time.Second)
	}
	if err := rb.cmd.Wait(); err != nil {
		n.t.Errorf("exit after SIGTERM: %v", err)
	}
	took := time.Since(began)
	if took > soakGrace+3*time.Second {
		n.t.Errorf("the node took %v to stop, shutdown_grace is %v", took, soakGrace)
	}
	if logs := rb.Logs(); strings.Contains(logs, "still open at the end of shutdown_grace") {
		n.t.Errorf("transports outlived shutdown_grace")
	}
	if problems := logProblems(rb.Logs()); len(problems) > 0 {
		n.t.Errorf("the node logged %d errors, e.g.\n  %s", len(problems), strings.Join(problems[:min(len(problems), 10)], "\n  "))
	}
	return took
}

// logProblems are the node's log lines that say something went wrong: an
// error-level entry (an unknown error answered 500, a recovered panic), a
// panic, or net/http's own error log ("http: ...": accept errors, panics).
func logProblems(logs string) []string {
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		var v struct{ Level string }
		switch {
		case strings.HasPrefix(line, "{"):
			if json.Unmarshal([]byte(line), &v) == nil && (v.Level == "error" || v.Level == "fatal" || v.Level == "panic") {
				out = append(out, line)
			}
		case strings.HasPrefix(line, "panic") || strings.HasPrefix(line, "fatal error") || strings.Contains(line, "http: "):
			out = append(out, line)
		}
	}
	return out
}

// keepLogs writes every run's log (JSON lines and gctrace) to a
// directory that outlives the test, and says where.
func (n *soakNode) keepLogs() {
	dir, err := os.MkdirTemp("", "channelstream-soak-")
	if err != nil {
		n.t.Logf("keeping the node's logs: %v", err)
		return
	}
	for i, rb := range n.runs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-run-%d.log", n.name, i+1)), []byte(rb.Logs()), 0o644); err != nil {
			n.t.Logf("keeping the node's logs: %v", err)
		}
	}
	n.t.Logf("the logs of %s are in %s", n.name, dir)
}

// metrics scrapes the node.
func (n *soakNode) metrics() map[string]float64 { return scrapeURL(n.t, n.URL) }

// slowCuts are the connections the node logged as cut slow consumers.
func (n *soakNode) slowCuts() map[string]bool {
	out := map[string]bool{}
	for _, rb := range n.runs {
		for _, line := range strings.Split(rb.Logs(), "\n") {
			if !strings.Contains(line, "slow consumer disconnected") {
				continue
			}
			var v struct {
				ConnID string `json:"conn_id"`
			}
			if json.Unmarshal([]byte(line), &v) == nil {
				out[v.ConnID] = true
			}
		}
	}
	return out
}

// soakFootprint is what the node holds.
type soakFootprint struct {
	goroutines, fds int
	liveMB          int    // live heap after the last collection, MB (gctrace)
	holds           string // the hub's gauges, to tell what a grown heap holds
}

func (f soakFootprint) String() string {
	return fmt.Sprintf("%d goroutines, %d open files, live heap %d MB", f.goroutines, f.fds, f.liveMB)
}

// footprintGauges are the hub's gauges a footprint notes.
var footprintGauges = []string{"users", "users_remembered", "channels", "queued_frames", "retained_frames", "retained_bytes"}

var gcLine = regexp.MustCompile(`(?m)^gc \d+ @.* (\d+)->(\d+)->(\d+) MB`)

// footprint waits until the node holds no connection and no transport,
// makes it collect garbage twice (by asking it for admin.json until two
// collections ran) and reads its footprint.
func (n *soakNode) footprint() soakFootprint {
	n.t.Helper()
	pollUntil(n.t, 60*time.Second, "the node holds no connection", func() bool {
		m := n.metrics()
		return m["channelstream_connections"] == 0 && m["channelstream_connections_attached{transport=websocket}"] == 0 &&
			m["channelstream_connections_attached{transport=sse}"] == 0 && m["channelstream_connections_attached{transport=longpoll}"] == 0
	})
	rb := n.current()
	before := len(gcLine.FindAllString(rb.Logs(), -1))
	tg := &testGateway{t: n.t, URL: n.URL, Secret: n.secret}
	pollUntil(n.t, 60*time.Second, "two garbage collections", func() bool {
		for range 20 {
			tg.Call("GET", "/admin/admin.json", nil)
		}
		return len(gcLine.FindAllString(rb.Logs(), -1)) >= before+2
	})
	all := gcLine.FindAllStringSubmatch(rb.Logs(), -1)
	live, _ := strconv.Atoi(all[len(all)-1][3])
	m := n.metrics()
	holds := make([]string, len(footprintGauges))
	for i, g := range footprintGauges {
		holds[i] = fmt.Sprintf("%s %.0f", g, m["channelstream_"+g])
	}
	return soakFootprint{goroutines: int(m["go_goroutines"]), fds: int(m["process_open_fds"]), liveMB: live, holds: strings.Join(holds, ", ")}
}

// Tolerances of the footprint after the run against the baseline.
const (
	footprintGoroutineSlack = 20
	footprintFDSlack        = 10
	footprintHeapSlackMB    = 4
)

// runFaultSoak is the soak under faults, on a node started with opts:
//
//  1. Warm-up: every client connects, receives the messages that fill the
//     channels' frame stores, and leaves; the node's footprint
//     (goroutines, open files, live heap) is then the baseline.
//  2. Main phase (SOAK_DURATION): clients connect, subscribe and receive
//     while messages are published; meanwhile their network paths are cut
//     and they resume with seq / last_seq / Last-Event-ID, long-poll
//     clients stop polling for a while, clients join and leave a channel,
//     leave for good and come back, the app disconnects connections (POST
//     /disconnect), stallers stop reading during bursts of large messages
//     so that the node cuts them as slow consumers, and malformed requests
//     of every kind hit every endpoint. With opts.backend, the backend
//     also goes away and comes back empty, once or twice (see
//     backendOutage); with several nodes one of them is killed (SIGKILL)
//     and its clients resume on a live node (see killNode). Then the
//     faults stop, and the ledger must balance (see soak_ledger_test.go).
//  3. The killed node starts again; every client leaves; the footprint
//     (of the first node) must be back to the baseline.
//  4. Every client connects again; while messages flow the first node
//     gets SIGTERM and must exit 0 within shutdown_grace, every transport
//     it served ended as §3.3 says. The node starts again on the same port. With the
//     in-memory backend every connection died with the node, so clients
//     POST /connect again, and the exactly-once accounting starts over
//     with the new connections (with opts.keepsConnections they resume
//     instead and the accounting carries on).
//  5. A shorter phase with every fault again, and the ledger must balance.
//
// Throughout, no valid request may get a 5xx (but the 503 refusals a
// backend outage explains), every malformed one must get its 4xx with a
// JSON body, and nothing may be delivered twice.
func runFaultSoak(t *testing.T, cfg soakSettings, opts soakNodeOptions) {
	began := time.Now()
	nodes := startSoakNodes(t, opts, max(opts.nodes, 1))
	node := nodes[0]
	t.Logf("%s soak: %d clients, %d publications/s, %d malformed requests/s, main phase %v, nodes: %s",
		opts.name, cfg.clients, cfg.rate, cfg.badRate, cfg.duration, nodeNames(nodes))
	ledger, errs := newSoakLedger(), newSoakErrors()
	if opts.dataPlane && opts.backend != nil {
		ledger.resets = node.outages
	}
	t.Cleanup(func() {
		errs.report(t)
		if t.Failed() {
			for _, n := range nodes {
				n.keepLogs()
			}
		}
	})

	// 1. Warm-up and baseline.
	warm := newSoakPool(t, nodes, ledger, errs, cfg.clients, false)
	warm.join()
	warm.run()
	// Channels keep their last frames (store_frames, 100 by default) for
	// edits: fill them as the main phase will, so that the baseline holds
	// what any run holds.
	for _, ch := range warm.homes {
		warm.send(ch, 50, 0)
		warm.send(ch, 50, 0)
	}
	for range 100 {
		warm.send(soakStallChannel, 1, burstBytes)
	}
	if tally := warm.settle(60 * time.Second); len(tally.failures()) > 0 {
		t.Fatalf("warm-up: %v: %s\n%s", tally.failures(), tally, strings.Join(tally.examples, "\n"))
	}
	warm.leave()
	base := node.footprint()
	t.Logf("warm-up done in %v; baseline: %s (%s)", time.Since(began).Round(time.Second), base, base.holds)

	// 2. Main phase.
	pool := newSoakPool(t, nodes, ledger, errs, cfg.clients, true)
	t.Logf("clients: %v, home channels %d", transportsOf(pool.clients), len(pool.homes))
	outages := 0
	if opts.backend != nil {
		outages = backendOutages(cfg.duration)
	}
	first, bad := soakPhase(t, "main", pool, cfg, cfg.duration, true, outages, len(nodes) > 1)
	checkTally(t, "main phase", first)
	t.Logf("main phase: faults: %s; %s", pool.faultSummary(), bad.summary())
	if outages > 0 {
		t.Logf("main phase: %s", node.outages.counts())
	}
	if node.metrics()["channelstream_slow_consumer_disconnects_total"] == 0 {
		t.Errorf("channelstream_slow_consumer_disconnects_total is 0: the soak did not exercise it")
	}
	// The connections clients left are collected conn_timeout later, and
	// after a backend outage the nodes hold collections back as long
	// again: in a short main phase that may come after its end.
	gcDeadline := time.Now().Add(2 * soakConnTimeout)
	for node.metrics()[`channelstream_gc_removals_total{kind=connection}`] == 0 {
		if time.Now().After(gcDeadline) {
			t.Errorf("channelstream_gc_removals_total{kind=connection} is 0: the soak did not exercise it")
			break
		}
		time.Sleep(250 * time.Millisecond)
	}

	// 3. Footprint after the run (every node up again).
	startAgain(t, nodes)
	pool.leave()
	after := node.footprint()
	t.Logf("footprint: baseline %s → after the main phase %s (%s)", base, after, after.holds)
	if after.goroutines > base.goroutines+footprintGoroutineSlack || after.fds > base.fds+footprintFDSlack || after.liveMB > base.liveMB+footprintHeapSlackMB {
		t.Errorf("the node grew: baseline %s, after %s (slack %d goroutines, %d files, %d MB)",
			base, after, footprintGoroutineSlack, footprintFDSlack, footprintHeapSlackMB)
	}

	// 4. SIGTERM under load, and a restart.
	restart := newSoakPool(t, nodes, ledger, errs, cfg.clients, true)
	restart.join()
	restart.run()
	stopPublish := background(func(ctx context.Context) { restart.publish(ctx, cfg.rate) })
	flowing := ledger.accepted() + 2*cfg.rate
	pollUntil(t, 30*time.Second, "messages flow before SIGTERM", func() bool { return ledger.accepted() >= flowing })
	restart.draining.Store(true)
	sigAt := time.Now()
	restart.sigAt.Store(&sigAt)
	took := node.stop()
	stopPublish()
	ends := checkShutdownEnds(t, restart)
	t.Logf("SIGTERM with %d clients attached: exit 0 after %v; the clients saw %v", restart.onNode(node), took.Round(time.Millisecond), ends)
	node.start()
	restart.draining.Store(false)
	close(restart.back)

	// 5. After the restart.
	second := max(cfg.duration/4, 15*time.Second)
	tally, bad := soakPhase(t, "after restart", restart, cfg, second, false, 0, false)
	checkTally(t, "after the restart", tally)
	t.Logf("after the restart: faults: %s; %s", restart.faultSummary(), bad.summary())
	restart.leave()
	for _, n := range nodes {
		n.stop()
	}
	t.Logf("whole soak in %v: %d messages accepted, %d API calls; checked phases: %d deliveries, %d duplicates, %d lost (%d more announced by gaps to slow consumers); node footprint %s → %s",
		time.Since(began).Round(time.Second), ledger.accepted(), warm.api.calls.Load()+pool.api.calls.Load()+restart.api.calls.Load(),
		first.deliveries+tally.deliveries, first.duplicates+first.dupSeqs+tally.duplicates+tally.dupSeqs,
		first.missing+first.holes+tally.missing+tally.holes, first.toldLost+tally.toldLost, base, after)
}
