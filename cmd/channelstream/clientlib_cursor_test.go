package main

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// nodeSwitch is a load balancer in front of a cluster's nodes: it passes
// /ws, /sse and /listen (WebSocket upgrades and event streams included) to
// the node it points at, and records the query of every request.
type nodeSwitch struct {
	URL   string
	nodes []*testGateway
	to    atomic.Int32 // index in nodes

	mu      sync.Mutex
	queries []url.Values
}

func newNodeSwitch(t *testing.T, nodes []*testGateway) *nodeSwitch {
	t.Helper()
	s := &nodeSwitch{nodes: nodes}
	proxy := &httputil.ReverseProxy{ErrorLog: log.New(io.Discard, "", 0), Rewrite: func(r *httputil.ProxyRequest) {
		target, err := url.Parse(s.nodes[s.to.Load()].URL)
		if err != nil {
			panic(err)
		}
		r.SetURL(target)
		s.mu.Lock()
		s.queries = append(s.queries, r.In.URL.Query())
		s.mu.Unlock()
	}}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// since returns the queries recorded from the n-th on.
func (s *nodeSwitch) since(n int) []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.queries[n:]...)
}

func (s *nodeSwitch) recorded() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queries)
}

// TestClientlibResumesOnAnotherNodeWithTheCursor: on a cluster of two nodes
// (redis_url, redis_data_plane) behind a balancer, the client keeps the resume cursor the
// frames carry and, when its transport reconnects and lands on the other
// node, sends it (cursor= beside last_seq on /ws and /listen, cursor= on a
// new /sse stream); the other node resumes exactly after it: every message
// once, in order, no gap. (With the client's cursor left out, SSE and
// long-poll get a gap object there instead.)
func TestClientlibResumesOnAnotherNodeWithTheCursor(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	nodes := startCluster(t, 2, srv.URL(), func(c *Config) { c.RedisDataPlane = true })
	lb := newNodeSwitch(t, nodes)
	app := newClientlibApp(t, nodes[0])
	b := startClientlibBrowser(t) // started last: closed first

	transports := []string{"websocket", "sse", "longpoll"}
	wsURL := "ws" + strings.TrimPrefix(lb.URL, "http") + "/ws"
	for _, tr := range transports {
		b.Open(tr, app.URL+"/harness.html")
		b.Eval(tr, fmt.Sprintf(`setup({connectUrl: '/connect', username: 'cursor-%s', channels: ['k-%s'],
			transport: %q, websocketUrl: %q, sseUrl: %q, longPollUrl: %q})`,
			tr, tr, tr, wsURL, lb.URL+"/sse", lb.URL+"/listen"), nil)
	}
	for _, tr := range transports {
		b.Wait(tr, fmt.Sprintf("conn.currentTransport === %q", tr))
	}
	const half, total = 5, 10
	for n := 1; n <= half; n++ {
		for _, tr := range transports {
			app.publish("k-"+tr, n)
		}
	}
	for _, tr := range transports {
		b.Wait(tr, fmt.Sprintf("ns('k-%s').length >= %d && conn.cursor.indexOf('-') > 0", tr, half))
	}

	// The balancer now sends everyone to node 1, and node 0 ends its
	// sessions: every transport comes back on node 1 with its cursor.
	mark := lb.recorded()
	lb.to.Store(1)
	if n := nodes[0].g.hub.EndSessions(core.DisconnectReplaced); n == 0 {
		t.Fatal("node 0 held no session")
	}
	for n := half + 1; n <= total; n++ {
		for _, tr := range transports {
			app.publish("k-"+tr, n)
		}
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			b.Wait(tr, fmt.Sprintf("ns('k-%s').length >= %d", tr, total))
			clientlibExactlyOnce(t, b, tr, "k-"+tr, total)
			var connID string
			b.Eval(tr, "conn.connectionId", &connID)
			sent := false
			for _, q := range lb.since(mark) {
				if q.Get("conn_id") != connID {
					continue
				}
				c := q.Get("cursor")
				if c == "" || !strings.Contains(c, "-") {
					t.Errorf("a reconnect without a cursor: %v", q)
					continue
				}
				if ls := q.Get("last_seq"); ls != "" && !strings.HasPrefix(c, ls+"-") {
					t.Errorf("cursor %q beside last_seq %s", c, ls)
				}
				sent = true
			}
			if !sent {
				t.Error("no reconnect reached node 1")
			}
			t.Logf("events %q", clientlibSummary(b, tr).Events)
		})
	}
}
