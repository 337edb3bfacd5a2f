package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Channels of the soak. Every client is in one home channel; the first
// stallMembers clients of each transport and every staller are in
// soakStallChannel too, which gets bursts of large messages while the
// stallers stop reading; clients join and leave soakChurnChannel as a
// fault.
const (
	soakStallChannel = "soak-stall"
	soakChurnChannel = "soak-churn"
	// clientsPerHome is about how many clients share a home channel.
	clientsPerHome = 250
	// stallMembers is how many clients of each transport (besides the
	// stallers) read the stall channel's bursts. They inject no faults of
	// their own: a burst arriving while they were away would overflow
	// their queue and end in a (legitimate) gap.
	stallMembers = 5
	// stallerShare is the share of WebSocket and SSE clients that stall.
	stallerShare = 100 // one in a hundred
)

// Fault pacing.
const (
	// faultEvery is the mean time between two faults of one client.
	faultEvery = 40 * time.Second
	// kickEvery: the app disconnects (POST /disconnect) one client every
	// kickEvery / number of clients.
	kickEvery = 300 * time.Second
	// stallEvery is the period of the stall bursts; stallHold how long the
	// stallers stop reading in each after the burst; burstMessages ×
	// burstBytes is what the stall channel receives meanwhile: more than
	// conn_queue_bytes (1 MiB) beyond what the socket buffers and the
	// batch being written take.
	stallEvery    = 10 * time.Second
	stallHold     = 3 * time.Second
	stallMax      = 10 * time.Second
	burstMessages = 102
	burstBytes    = 40 << 10
)

// soakPool is a set of clients of one node, driven together through the
// phases of the soak.
type soakPool struct {
	t      *testing.T
	node   *soakNode   // the first node: the one the restart stops
	nodes  []*soakNode // every node; clients start spread over them
	ledger *soakLedger
	api    *soakAPI
	errs   *soakErrors
	polls  *http.Client
	gate   *stallGate // the stallers read while it is open

	clients []*soakClient
	homes   []string

	faults   atomic.Bool // clients inject their own faults
	draining atomic.Bool // the node is being stopped: transport ends are expected
	sigAt    atomic.Pointer[time.Time]
	back     chan struct{} // closed when the node is up again after a restart
	keep     bool          // connections survive a restart (soakNodeOptions.keepsConnections)
	kicked   sync.Map      // conn_id → time.Time the /disconnect was sent
	// turns is held by a stall burst and by a backend outage: they take
	// turns, as a burst refused halfway by an outage may overflow no
	// queue, and each phase must see slow consumers cut.
	turns sync.Mutex

	ctx    context.Context
	cancel context.CancelFunc
	actors sync.WaitGroup

	drops, resumes, kicks, leaves, churns, pollStalls, bursts, reconnects atomic.Int64
	moves                                                                 atomic.Int64 // clients moved off a killed node
	burstAccepted                                                         atomic.Int64 // messages of the stall bursts answered 2xx
	shutdownEnds                                                          sync.Map     // "transport: how" → *atomic.Int64
}

// newSoakPool makes n clients, a third per transport, none connected yet,
// client i on node i mod len(nodes); with stallers, one WebSocket and one
// SSE client in 3 × stallerShare stall.
func newSoakPool(t *testing.T, nodes []*soakNode, ledger *soakLedger, errs *soakErrors, n int, stallers bool) *soakPool {
	ctx, cancel := context.WithCancel(context.Background())
	node := nodes[0]
	p := &soakPool{
		t: t, node: node, nodes: nodes, ledger: ledger, errs: errs, gate: newStallGate(),
		polls:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}},
		back:   make(chan struct{}),
		keep:   node.opts.keepsConnections,
		ctx:    ctx,
		cancel: cancel,
	}
	p.api = &soakAPI{node: node, nodes: nodes, errs: errs, draining: &p.draining,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}}
	for i := range max(1, n/clientsPerHome) {
		p.homes = append(p.homes, fmt.Sprintf("soak-%d", i))
	}
	members := map[string]int{}
	for i := range n {
		tr := []string{"websocket", "sse", "longpoll"}[i%3]
		c := &soakClient{pool: p, user: fmt.Sprintf("soak-%d", i), transport: tr,
			rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
		c.channels = []string{p.homes[i%len(p.homes)]}
		c.node.Store(nodes[i%len(nodes)])
		switch {
		case stallers && tr != "longpoll" && i%(3*stallerShare) < 2:
			c.staller, c.quiet = true, true
			c.channels = append(c.channels, soakStallChannel)
		case tr != "longpoll" && members[tr] < stallMembers:
			members[tr]++
			c.quiet = true
			c.channels = append(c.channels, soakStallChannel)
		}
		p.clients = append(p.clients, c)
	}
	t.Cleanup(p.close)
	return p
}

// join connects and attaches every client.
func (p *soakPool) join() {
	p.t.Helper()
	err := forEachParallel(len(p.clients), 48, func(i int) error { return p.clients[i].connect() })
	if err != nil {
		p.t.Fatalf("join: %v", err)
	}
}

// run starts the clients' own loops (reading, reacting to ends, and their
// faults when faults is on).
func (p *soakPool) run() {
	for _, c := range p.clients {
		c.scheduleFault()
		p.actors.Add(1)
		go c.run()
	}
}

// stopActors stops the clients' loops; the pool then owns their transports.
func (p *soakPool) stopActors() {
	p.cancel()
	p.actors.Wait()
}

// leave stops the clients, closes their transports and disconnects their
// connections, so that the node holds none.
func (p *soakPool) leave() {
	p.stopActors()
	p.gate.unstall()
	_ = forEachParallel(len(p.clients), 48, func(i int) error {
		c := p.clients[i]
		if c.sub != nil {
			c.sub.Close()
			c.sub = nil
		}
		c.mu.Lock()
		inc := c.inc
		c.mu.Unlock()
		if inc != nil && inc.ended.IsZero() {
			c.endInc("left", time.Now())
			p.api.call("POST", "/disconnect", map[string]any{"conn_id": inc.connID})
		}
		return nil
	})
	p.api.client.CloseIdleConnections()
	p.polls.CloseIdleConnections()
}

func (p *soakPool) close() {
	p.cancel()
	p.actors.Wait()
	p.gate.unstall()
	for _, c := range p.clients {
		if c.sub != nil {
			c.sub.Close()
		}
	}
	p.api.client.CloseIdleConnections()
	p.polls.CloseIdleConnections()
}

// background runs f in a goroutine until stop is called; stop waits for it.
func background(f func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f(ctx) }()
	return func() { cancel(); <-done }
}

// pause waits d unless ctx ends first; it reports whether ctx is still on.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// publish makes rate POST /message requests per second, spread over the
// home channels and the churn channel, one in five carrying three messages.
func (p *soakPool) publish(ctx context.Context, rate int) {
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	tick := time.NewTicker(time.Second / time.Duration(max(rate, 1)))
	defer tick.Stop()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	sem := make(chan struct{}, 8) // a few requests at once: a slow answer does not stop the stream
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ch := soakChurnChannel
		if k := rng.IntN(len(p.homes) + 1); k < len(p.homes) {
			ch = p.homes[k]
		}
		n := 1
		if rng.IntN(5) == 0 {
			n = 3
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // the node is slow: skip this tick
		}
		inflight.Add(1)
		go func() {
			defer func() { <-sem; inflight.Done() }()
			p.send(ch, n, 0)
		}()
	}
}

// send publishes n messages of about pad bytes to channel in one request,
// records them in the ledger and returns the status (0: no answer).
func (p *soakPool) send(channel string, n, pad int) int {
	ids := p.ledger.ids(n)
	msgs := make([]map[string]any, n)
	for i, id := range ids {
		m := map[string]any{"id": id, "text": fmt.Sprint("m", id)}
		if pad > 0 {
			m["pad"] = strings.Repeat("x", pad)
		}
		msgs[i] = map[string]any{"user": "publisher", "channel": channel, "message": m}
	}
	sent := time.Now()
	code, _, _ := p.api.call("POST", "/message", msgs)
	p.ledger.record(channel, ids, sent, time.Now(), code)
	return code
}

// kick disconnects a random client's connection through the API, as the
// web application does when a user logs out, every kickEvery/clients.
func (p *soakPool) kick(ctx context.Context) {
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	every := kickEvery / time.Duration(len(p.clients))
	for pause(ctx, every) {
		c := p.clients[rng.IntN(len(p.clients))]
		c.mu.Lock()
		inc := c.inc
		alive := inc != nil && inc.ended.IsZero()
		c.mu.Unlock()
		if !alive {
			continue
		}
		p.kicked.Store(inc.connID, time.Now())
		p.kicks.Add(1)
		code, b, err := p.api.call("POST", "/disconnect", map[string]any{"conn_id": inc.connID})
		switch {
		case err != nil || code == http.StatusOK:
		case code == http.StatusServiceUnavailable:
			// Refused while the backend was away (soakAPI judged whether
			// it may be): the connection lives on.
			p.kicked.Delete(inc.connID)
		default:
			p.errs.add("disconnect refused", "%s: %d %s", inc.connID, code, b)
		}
	}
}

// stallBursts stops the stallers' reading, floods the stall channel with
// large messages, and lets the stallers read again, every stallEvery. A
// stall lasts at most stallMax, burst or not: a connection with no
// transport attached for conn_timeout (15 s) would be collected.
func (p *soakPool) stallBursts(ctx context.Context) {
	for pause(ctx, stallEvery) {
		p.turns.Lock()
		p.gate.stall()
		stallCtx, cancel := context.WithTimeout(ctx, stallMax)
		if pause(stallCtx, 300*time.Millisecond) {
			// Three messages per request (the body stays under
			// max_body_bytes), from a few senders: on a loaded node the
			// burst must still fit in the stall.
			var next atomic.Int64
			_ = forEachParallel(4, 4, func(int) error {
				for next.Add(3) <= burstMessages && stallCtx.Err() == nil {
					if p.send(soakStallChannel, 3, burstBytes)/100 == 2 {
						p.burstAccepted.Add(3)
					}
				}
				return nil
			})
			p.bursts.Add(1)
			pause(stallCtx, stallHold)
		}
		cancel()
		p.gate.unstall()
		p.turns.Unlock()
	}
}

// settle waits until every alive incarnation has what it must have, and
// returns the tally.
func (p *soakPool) settle(within time.Duration) *soakTally {
	p.t.Helper()
	p.gate.unstall()
	deadline := time.Now().Add(within)
	for {
		slow := p.slowCuts()
		if p.ledger.complete(p.clients, slow) || time.Now().After(deadline) {
			return p.ledger.verify(p.clients, slow)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// countEnd counts how a transport ended while the node drained.
func (p *soakPool) countEnd(transport, how string) {
	v, _ := p.shutdownEnds.LoadOrStore(transport+": "+how, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (p *soakPool) shutdownSummary() map[string]int64 {
	out := map[string]int64{}
	p.shutdownEnds.Range(func(k, v any) bool { out[k.(string)] = v.(*atomic.Int64).Load(); return true })
	return out
}

// faultSummary is how many faults of each kind the pool injected.
func (p *soakPool) faultSummary() string {
	return fmt.Sprintf("drops+resumes %d, kicks %d, leaves %d, churn %d, long-poll stalls %d, stall bursts %d (%d messages accepted), resumes after a server end %d (%d after %v of silence), reconnections %d, moves off a killed node %d",
		p.drops.Load(), p.kicks.Load(), p.leaves.Load(), p.churns.Load(), p.pollStalls.Load(), p.bursts.Load(), p.burstAccepted.Load(), p.resumes.Load(),
		p.gate.silent.Load(), stallSilence, p.reconnects.Load(), p.moves.Load())
}
