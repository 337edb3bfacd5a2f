package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Several nodes on one backend (soakNodeOptions.nodes > 1): clients are
// spread over the nodes (client i starts on node i mod n) and so are the
// API calls (each call goes to the next live node). During the main phase
// one node other than the first is killed with SIGKILL (killNode): its
// clients' transports end and each client resumes its connection on a live
// node, with the resume position it holds (soakPos: last_seq and the
// node's resume cursor, Last-Event-ID on SSE), and the exactly-once
// accounting carries on across the move. API calls that the kill cut are
// answered by nobody: the soak counts them as not known (a /message
// without an answer may or may not be delivered). The killed node starts
// again after the main phase, so that the rest of the soak has every node.

// killMovedWithin bounds how long after the kill every client of the
// killed node takes to move to a live node: a staller notices the end of
// its transport only once it reads again (stallMax), then resumes.
const killMovedWithin = 30 * time.Second

// startSoakNodes starts count nodes from one build, sharing one record of
// the backend's outages.
func startSoakNodes(t *testing.T, opts soakNodeOptions, count int) []*soakNode {
	bin, outages := buildBinary(t), newSoakOutages()
	nodes := make([]*soakNode, count)
	for i := range nodes {
		nodes[i] = &soakNode{t: t, bin: bin, opts: opts, secret: "soak-secret", port: "0", outages: outages, name: fmt.Sprintf("node%d", i)}
		nodes[i].start()
	}
	return nodes
}

// kill ends the node with SIGKILL, as a crash would: no drain, no release
// of its connections, nothing flushed.
func (n *soakNode) kill() {
	n.t.Helper()
	rb := n.current()
	at := time.Now()
	n.killed.Store(&at)
	if err := rb.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		n.t.Fatalf("SIGKILL %s: %v", n.name, err)
	}
	<-rb.done
	_ = rb.cmd.Wait() // "signal: killed"
}

// dead reports whether the node was killed and has not started again.
func (n *soakNode) dead() bool { return n.killed.Load() != nil }

// killedBy reports whether the node was killed at or before at: an API
// call that failed then was cut by the kill.
func (n *soakNode) killedBy(at time.Time) bool {
	k := n.killed.Load()
	return k != nil && !k.After(at)
}

// liveNode returns prefer when it is alive, else the first live node.
func (p *soakPool) liveNode(prefer *soakNode) *soakNode {
	if !prefer.dead() {
		return prefer
	}
	for _, n := range p.nodes {
		if !n.dead() {
			return n
		}
	}
	p.t.Errorf("no live node")
	return prefer
}

// at returns the client's node, moving the client to a live node first
// when its node was killed.
func (c *soakClient) at() *soakNode {
	n := c.node.Load()
	if n.dead() {
		n = c.pool.liveNode(n)
		c.node.Store(n)
		c.pool.moves.Add(1)
	}
	return n
}

// onNode counts the clients whose node is n.
func (p *soakPool) onNode(n *soakNode) int {
	k := 0
	for _, c := range p.clients {
		if c.node.Load() == n {
			k++
		}
	}
	return k
}

// slowCuts are the connections any node logged as cut slow consumers.
func (p *soakPool) slowCuts() map[string]bool {
	out := map[string]bool{}
	for _, n := range p.nodes {
		for id := range n.slowCuts() {
			out[id] = true
		}
	}
	return out
}

// killNode is the node-kill fault: the last node gets SIGKILL while the
// phase's faults go on; every client it served must move to a live node
// within killMovedWithin (the ledger then checks that each got every
// frame exactly once across the move).
func killNode(t *testing.T, pool *soakPool) {
	t.Helper()
	node := pool.nodes[len(pool.nodes)-1]
	served := pool.onNode(node)
	movesBefore, cutBefore := pool.moves.Load(), pool.api.cut.Load()
	began := time.Now()
	node.kill()
	for deadline := time.Now().Add(killMovedWithin); pool.onNode(node) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d clients still on the killed %s %v after the kill, e.g. %s", pool.onNode(node), node.name, killMovedWithin, pool.describeOn(node, 5))
		}
	}
	t.Logf("%s SIGKILL %s with %d clients on it: they all moved to a live node within %v (%d moves); the kill left %d API calls without an answer",
		time.Now().Format("15:04:05"), node.name, served, time.Since(began).Round(time.Millisecond), pool.moves.Load()-movesBefore, pool.api.cut.Load()-cutBefore)
}

// startAgain starts every killed node again (on its port).
func startAgain(t *testing.T, nodes []*soakNode) {
	t.Helper()
	for _, n := range nodes {
		if n.dead() {
			n.start()
			pollUntil(t, outageReadyWithin, n.name+" ready after its restart", func() bool { return n.readyz() == 200 })
		}
	}
}

// nodeNames lists the nodes and their addresses, for the logs.
func nodeNames(nodes []*soakNode) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = n.name + " " + n.URL
	}
	return strings.Join(parts, ", ")
}

// describeOn describes up to n clients whose node is node, for a failure.
func (p *soakPool) describeOn(node *soakNode, n int) string {
	var out []string
	for _, c := range p.clients {
		if len(out) == n {
			break
		}
		if c.node.Load() != node {
			continue
		}
		c.mu.Lock()
		d := fmt.Sprintf("%s %s (staller %v, quiet %v)", c.user, c.transport, c.staller, c.quiet)
		if c.inc != nil {
			d += fmt.Sprintf(" conn %s: %d frames, ended %q at %s", c.inc.connID, c.inc.frames, c.inc.endReason, c.inc.ended.Format("15:04:05.000"))
		}
		c.mu.Unlock()
		out = append(out, d)
	}
	return strings.Join(out, "; ")
}
