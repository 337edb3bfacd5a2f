package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// soakAPI makes the signed API calls of the soak's app side. A valid
// request must never fail nor get a 5xx, unless the node is draining, an
// outage of the node's backend explains a 503 refusal (see
// soakOutages.explains) or the node was killed under the call (no answer:
// callers take it as "not known"); callers take any 503 as "not done".
type soakAPI struct {
	node *soakNode
	// nodes, when set, take the calls in turn (the live ones); else node.
	nodes    []*soakNode
	next     atomic.Uint64
	client   *http.Client
	errs     *soakErrors
	draining *atomic.Bool
	calls    atomic.Int64
	cut      atomic.Int64 // calls a node's kill left without an answer
}

// target is the node of the next call.
func (a *soakAPI) target() *soakNode {
	for range len(a.nodes) {
		if n := a.nodes[a.next.Add(1)%uint64(len(a.nodes))]; !n.dead() {
			return n
		}
	}
	return a.node
}

func (a *soakAPI) call(method, path string, body any) (int, []byte, error) {
	a.calls.Add(1)
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	// How the request got its connection, to tell a failure on a reused
	// keep-alive connection from one on a fresh one.
	var conn httptrace.GotConnInfo
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conn = i }})
	node := a.target()
	api := client.New(client.Config{BaseURL: node.URL, Secret: node.secret, HTTPClient: a.client})
	sent := time.Now()
	code, answer, err := api.Call(ctx, method, path, b)
	switch {
	case a.draining.Load():
	case err != nil && node.killedBy(time.Now()):
		a.cut.Add(1)
	case err == nil && code == http.StatusServiceUnavailable && a.node.outages.explains(method+" "+path, sent, time.Now(), answer):
	case err != nil:
		a.errs.add("valid request failed", "%s %s at %s (connection reused %v, idle %v for %v): %v",
			method, path, time.Now().Format("15:04:05.000"), conn.Reused, conn.WasIdle, conn.IdleTime, err)
	case code >= 500:
		a.errs.add("5xx to a valid request", "%s %s at %s: %d %s", method, path, time.Now().Format("15:04:05.000"), code, answer)
	}
	return code, answer, err
}

// soakErrors collects what went wrong, by kind, with a few examples.
type soakErrors struct {
	mu       sync.Mutex
	counts   map[string]int
	examples map[string][]string
}

func newSoakErrors() *soakErrors {
	return &soakErrors{counts: map[string]int{}, examples: map[string][]string{}}
}

func (e *soakErrors) add(kind, format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts[kind]++
	if len(e.examples[kind]) < 5 {
		e.examples[kind] = append(e.examples[kind], fmt.Sprintf(format, args...))
	}
}

// report fails t for every kind of error.
func (e *soakErrors) report(t *testing.T) {
	e.mu.Lock()
	defer e.mu.Unlock()
	kinds := make([]string, 0, len(e.counts))
	for k := range e.counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		t.Errorf("%s: %d times, e.g.\n  %s", k, e.counts[k], strings.Join(e.examples[k], "\n  "))
	}
}
