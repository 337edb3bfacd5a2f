package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// soakClient is one browser: one user, one transport, a connection at a
// time (an incarnation). Its loop alone touches sub; mu guards inc, incs
// and their contents, which the ledger and the kicker read.
type soakClient struct {
	pool      *soakPool
	user      string
	transport string
	staller   bool
	quiet     bool // injects no faults of its own
	channels  []string
	rng       *rand.Rand
	// node is the node the client talks to; its loop alone changes it
	// (see at), others read it.
	node atomic.Pointer[soakNode]

	mu   sync.Mutex
	inc  *soakInc
	incs []*soakInc

	sub       subscriber
	churnIn   bool
	nextFault time.Time
	failures  int // consecutive failed attachments
	// gaveUp is set when the staller gave a silent connection up (see
	// errStallSilent) and cleared by the next incarnation.
	gaveUp bool
}

func (c *soakClient) scheduleFault() {
	c.nextFault = time.Now().Add(time.Duration(c.rng.ExpFloat64() * float64(faultEvery)))
}

func (c *soakClient) stallGate() *stallGate {
	if c.staller {
		return c.pool.gate
	}
	return nil
}

// connect makes a new incarnation: POST /connect with the client's
// channels, then attaches its transport.
func (c *soakClient) connect() error {
	p := c.pool
	sent := time.Now()
	code, b, err := p.api.call("POST", "/connect", map[string]any{
		"username": c.user, "channels": c.channels,
		"info": map[string]any{"include_users": false, "include_history": false},
	})
	answered := time.Now()
	if err == nil && code == http.StatusServiceUnavailable {
		return fmt.Errorf("connect %s: %w: %s", c.user, errRefused, b)
	}
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("connect %s: %d %s %v", c.user, code, b, err)
	}
	var v struct {
		ConnID string `json:"conn_id"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.ConnID == "" {
		return fmt.Errorf("connect %s: %s: %v", c.user, b, err)
	}
	inc := newSoakInc(v.ConnID, c.transport, c.staller)
	for _, ch := range c.channels {
		inc.member[ch] = []*window{{subSent: sent, subAnswered: answered}}
	}
	c.mu.Lock()
	c.inc = inc
	c.incs = append(c.incs, inc)
	c.mu.Unlock()
	c.churnIn = false
	sub, err := soakDial(c.transport, c.stallGate(), c.at().URL, v.ConnID, soakPos{}, false, p.polls)
	if err != nil {
		return fmt.Errorf("attach %s %s: %w", c.transport, v.ConnID, err)
	}
	c.sub = sub
	return nil
}

// errRefused is a change the node answered 503: it did not make it (see
// soakAPI for when that may be).
var errRefused = errors.New("refused with 503")

func (c *soakClient) endInc(reason string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inc != nil && c.inc.ended.IsZero() {
		c.inc.ended, c.inc.endReason = at, reason
	}
}

func (c *soakClient) connID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inc.connID
}

// run is the client's loop: read, account, react to the end of its
// transport, and inject a fault now and then.
func (c *soakClient) run() {
	p := c.pool
	defer p.actors.Done()
	for p.ctx.Err() == nil {
		if c.sub == nil { // a reconnection failed: try again
			if pause(p.ctx, 200*time.Millisecond) {
				c.reconnect()
			}
			continue
		}
		batch, err := c.sub.Next(300 * time.Millisecond)
		switch {
		case err == nil:
			c.failures = 0
			c.mu.Lock()
			c.inc.take(batch)
			c.mu.Unlock()
		case errors.Is(err, errNoBatch):
		default:
			c.ended(err)
		}
		if p.faults.Load() && !c.quiet && c.sub != nil && time.Now().After(c.nextFault) {
			c.fault()
			c.scheduleFault()
		}
	}
}

// ended reacts to the end of the transport: the node is restarting, the
// app disconnected the connection, or the transport alone was ended (slow
// consumer, stream end, network error): then resume where it stopped.
func (c *soakClient) ended(err error) {
	p := c.pool
	var e *endedError
	errors.As(err, &e)
	if p.draining.Load() {
		c.restart(err)
		return
	}
	if at, ok := p.kicked.Load(c.connID()); ok {
		c.endInc("disconnected", at.(time.Time))
		c.dropSub()
		if pause(p.ctx, time.Duration(c.rng.IntN(500))*time.Millisecond) {
			c.reconnect()
		}
		return
	}
	if c.node.Load().dead() {
		// Its node was killed: resume the connection on a live one (at
		// moves the client), from where it stood.
		c.resume()
		return
	}
	if now := time.Now(); e != nil && e.Code == http.StatusServiceUnavailable && p.node.outages.explains("attach "+c.transport, now, now, []byte(e.Text)) {
		// A resume refused because the backend is away (a data-plane
		// node cannot catch a connection up without it): no failure, try
		// again a little later.
		if pause(p.ctx, time.Duration(200+c.rng.IntN(300))*time.Millisecond) {
			c.resume()
		}
		return
	}
	if !c.staller && p.node.outages.away(time.Now()) {
		// A staller may be cut as slow any time; anyone else must stay
		// attached while the backend is away.
		p.node.outages.endedWhileAway()
		p.errs.add("transport ended during a backend outage", "%s %s %s at %s: %v", c.user, c.transport, c.connID(), time.Now().Format("15:04:05.000"), err)
	}
	if e != nil && errors.Is(e.Err, errStallSilent) {
		c.gaveUp = true
	}
	switch {
	case e != nil && c.gaveUp && (e.Code == 1000 || e.Code == http.StatusNotFound || e.Code == http.StatusUnauthorized):
		// Collected while the staller sat on a dead connection.
		c.gaveUp = false
		c.endInc("collected", time.Now())
		c.dropSub()
		c.reconnect()
		return
	case e != nil && (e.Code == 1000 || e.Code == http.StatusNotFound || e.Code == http.StatusUnauthorized):
		// The connection is gone though nobody disconnected it.
		p.errs.add("connection lost", "%s %s %s: %v", c.user, c.transport, c.connID(), err)
		c.endInc("lost", time.Now())
		c.dropSub()
		c.reconnect()
		return
	case e != nil && e.Code >= 500 && e.Code < 1000: // an HTTP status, not a WebSocket close code
		p.errs.add("5xx on attach", "%s %s: %v", c.user, c.transport, err)
	case e != nil && c.staller && e.Code == 1006:
		// A staller cut as slow may not get the close frame: the node
		// could not write it to a socket nobody read.
	case e != nil && e.Code != 0 && e.Code != 1008: // 1008: cut as a slow consumer
		p.errs.add("unexpected transport end", "%s %s %s: %v", c.user, c.transport, c.connID(), err)
	}
	c.failures++
	if c.failures > 5 {
		p.errs.add("cannot resume", "%s %s %s: %v", c.user, c.transport, c.connID(), err)
		c.endInc("failed", time.Now())
		c.dropSub()
		c.reconnect()
		return
	}
	c.resume()
}

// resume attaches a new transport to the same connection after the last
// seq received.
func (c *soakClient) resume() {
	p := c.pool
	c.drain()
	pos := posOf(c.sub)
	c.dropSub()
	p.resumes.Add(1)
	if c.failures > 1 && !pause(p.ctx, time.Duration(c.failures)*100*time.Millisecond) {
		return
	}
	sub, err := soakDial(c.transport, c.stallGate(), c.at().URL, c.connID(), pos, true, p.polls)
	if err != nil {
		c.sub = &endedSub{err: err, pos: pos}
		return
	}
	c.sub = sub
}

// reconnect makes a new incarnation after the previous one ended.
func (c *soakClient) reconnect() {
	p := c.pool
	p.reconnects.Add(1)
	if err := c.connect(); err != nil {
		// The app may have disconnected the new connection before it
		// attached.
		if at, kicked := p.kicked.Load(c.connID()); kicked {
			c.endInc("disconnected", at.(time.Time))
		} else {
			// A refused /connect is tried again by the client's loop.
			if !p.draining.Load() && !errors.Is(err, errRefused) {
				p.errs.add("reconnect failed", "%v", err)
			}
			c.endInc("failed", time.Now())
		}
		c.dropSub()
	}
}

// restart handles a transport ended by the node's shutdown: wait for the
// node to be back, then resume the same connection when the backend keeps
// connections across restarts, or connect again. With the in-memory
// backend every connection is gone after a restart: the incarnation ends
// there ("restart") and the exactly-once accounting starts again with the
// new one.
func (c *soakClient) restart(err error) {
	p := c.pool
	var e *endedError
	how := "error"
	switch {
	case errors.As(err, &e) && e.EOF:
		how = "end of stream"
	case e != nil && e.Code != 0:
		how = fmt.Sprint(e.Code)
	}
	p.countEnd(c.transport, how)
	c.drain()
	pos := posOf(c.sub)
	c.dropSub()
	select {
	case <-p.back:
	case <-p.ctx.Done():
		return
	}
	if p.keep {
		sub, err := soakDial(c.transport, c.stallGate(), c.at().URL, c.connID(), pos, true, p.polls)
		if at, kicked := p.kicked.Load(c.connID()); err != nil && kicked {
			// The app's /disconnect crossed the shutdown: the connection
			// is gone, rightly.
			c.endInc("disconnected", at.(time.Time))
			c.reconnect()
			return
		}
		if err != nil {
			p.errs.add("resume after restart failed", "%s %s: %v", c.user, c.transport, err)
			c.endInc("restart", *p.sigAt.Load())
			c.reconnect()
			return
		}
		c.sub = sub
		return
	}
	c.endInc("restart", *p.sigAt.Load())
	c.reconnect()
}

// drain accounts the batches the transport delivered that the loop has
// not taken yet: a Resume that failed (after a fault's Drop) leaves them in
// the subscriber, and the position a new subscriber starts from counts
// them as received.
func (c *soakClient) drain() {
	for {
		batch, err := c.sub.Next(0)
		if err != nil {
			return
		}
		c.mu.Lock()
		c.inc.take(batch)
		c.mu.Unlock()
	}
}

func (c *soakClient) dropSub() {
	if c.sub != nil {
		c.sub.Close()
		c.sub = nil
	}
}

// fault injects one of the client's own faults.
func (c *soakClient) fault() {
	p := c.pool
	switch k := c.rng.IntN(10); {
	case k < 5 || (k == 9 && c.transport != "longpoll"): // the network path is cut, then the client resumes
		p.drops.Add(1)
		c.sub.Drop()
		pause(p.ctx, time.Duration(c.rng.IntN(300))*time.Millisecond)
		if err := c.sub.Resume(); err != nil {
			c.ended(err)
		} else if p.node.outages.away(time.Now()) {
			p.node.outages.resumedWhileAway()
		}
	case k < 8: // join or leave the churn channel
		p.churns.Add(1)
		c.churn()
	case k == 8: // leave for good (the collector removes the connection later), come back as a new connection
		p.leaves.Add(1)
		c.dropSub()
		c.endInc("left", time.Now())
		if pause(p.ctx, time.Duration(200+c.rng.IntN(800))*time.Millisecond) {
			c.reconnect()
		}
	default: // a long-poll client stops polling for a while: its queue waits for it
		p.pollStalls.Add(1)
		c.sub.Drop()
		pause(p.ctx, time.Duration(1000+c.rng.IntN(2000))*time.Millisecond)
		if err := c.sub.Resume(); err != nil {
			c.ended(err)
		}
	}
}

// churn subscribes to or unsubscribes from the churn channel, noting the
// membership window.
func (c *soakClient) churn() {
	p := c.pool
	c.mu.Lock()
	inc := c.inc
	var w *window
	if c.churnIn {
		ws := inc.member[soakChurnChannel]
		w = ws[len(ws)-1]
		w.unsubSent = time.Now()
	} else {
		w = &window{subSent: time.Now()}
		inc.member[soakChurnChannel] = append(inc.member[soakChurnChannel], w)
	}
	c.mu.Unlock()
	path := map[bool]string{false: "/subscribe", true: "/unsubscribe"}[c.churnIn]
	code, b, err := p.api.call("POST", path, map[string]any{"conn_id": inc.connID, "channels": []string{soakChurnChannel}})
	now := time.Now()
	if err == nil && code == http.StatusServiceUnavailable {
		// Refused (see soakAPI): the membership stays as it was.
		c.mu.Lock()
		if c.churnIn {
			w.unsubSent = time.Time{}
		} else {
			inc.member[soakChurnChannel] = slices.DeleteFunc(inc.member[soakChurnChannel], func(x *window) bool { return x == w })
		}
		c.mu.Unlock()
		return
	}
	if err != nil || code != http.StatusOK {
		if _, kicked := p.kicked.Load(inc.connID); !kicked && err == nil {
			p.errs.add("churn refused", "%s %s: %d %s", path, inc.connID, code, b)
		}
		return // the window stays open-ended: delivery possible, not required
	}
	c.mu.Lock()
	if c.churnIn {
		w.unsubAnswered = now
	} else {
		w.subAnswered = now
	}
	c.mu.Unlock()
	c.churnIn = !c.churnIn
}

// endedSub is a subscriber whose attachment failed: Next reports the
// failure, so that the client's loop handles it like any other end.
type endedSub struct {
	err error
	pos soakPos
}

func (s *endedSub) Next(time.Duration) ([]wireFrame, error) { return nil, s.err }
func (s *endedSub) LastSeq() uint64                         { return s.pos.seq }
func (s *endedSub) ResumeCursor() string                    { return s.pos.cursor }
func (s *endedSub) Drop()                                   {}
func (s *endedSub) Resume() error                           { return s.err }
func (s *endedSub) Close()                                  {}

// transportsOf lists the clients' transports, for the logs.
func transportsOf(clients []*soakClient) map[string]int {
	out := map[string]int{}
	for _, c := range clients {
		k := c.transport
		if c.staller {
			k += " (staller)"
		}
		out[k]++
	}
	return out
}
