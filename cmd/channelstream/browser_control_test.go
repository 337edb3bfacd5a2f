package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// browserControl serves the blank test page (another origin than the
// node) and POST /control, where the page asks for a burst of messages and
// a cut.
type browserControl struct {
	t        *testing.T
	tg       *testGateway
	proxies  map[string]*browserProxy
	channels map[string]string

	mu   sync.Mutex
	sent map[string]map[int]string // transport → n → text
}

const browserPage = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>channelstream-go browser test</title>`

type browserBurstRequest struct {
	Transport string `json:"transport"`
	From      int    `json:"from"`
	To        int    `json:"to"`
	Cut       string `json:"cut"`
	CutAfter  int    `json:"cutAfter"`
}

func (c *browserControl) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, browserPage)
	case r.URL.Path == "/control" && r.Method == http.MethodPost:
		var req browserBurstRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res, err := c.burst(r.Context(), req)
		if err != nil {
			c.t.Errorf("control %+v: %v", req, err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	default:
		http.NotFound(w, r)
	}
}

// browserCutResult says what a cut did: sessions the hub ended, browser
// connections the proxy reset and the bytes it swallowed before that.
type browserCutResult struct {
	Ended   int   `json:"ended"`
	Killed  int   `json:"killed"`
	Dropped int64 `json:"dropped"`
}

// burst publishes messages From..To to the transport's channel, one REST
// call each, and cuts the network path right after CutAfter. A "proxy" cut
// first blackholes the path two messages earlier and resets it only once
// it swallowed something (a long-poll answers after its gather), so that
// frames the node wrote successfully are lost on the way: only a resume
// brings them back.
func (c *browserControl) burst(ctx context.Context, req browserBurstRequest) (browserCutResult, error) {
	var res browserCutResult
	hubName, ok := browserTransports[req.Transport]
	if !ok {
		return res, fmt.Errorf("unknown transport %q", req.Transport)
	}
	proxy := c.proxies[req.Transport]
	for n := req.From; n <= req.To; n++ {
		if req.Cut == "proxy" && n == req.CutAfter-1 {
			proxy.blackhole()
		}
		text := fmt.Sprintf("%s message %d", req.Transport, n)
		if err := browserPublish(ctx, c.tg, c.channels[req.Transport], n, text); err != nil {
			return res, err
		}
		c.record(req.Transport, n, text)
		if n == req.CutAfter {
			switch req.Cut {
			case "":
			case "server":
				// A long-poll may be between two polls: try until one is attached.
				for deadline := time.Now().Add(time.Second); res.Ended == 0 && time.Now().Before(deadline); {
					if res.Ended = c.tg.g.hub.EndSessions(core.DisconnectReplaced, hubName); res.Ended == 0 {
						time.Sleep(time.Millisecond)
					}
				}
			case "proxy":
				proxy.awaitDropped(browserBlackholeLinger)
				res.Killed, res.Dropped = proxy.kill()
			default:
				return res, fmt.Errorf("unknown cut %q", req.Cut)
			}
		}
		time.Sleep(browserPublishPace)
	}
	return res, nil
}

func (c *browserControl) record(transport string, n int, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent == nil {
		c.sent = map[string]map[int]string{}
	}
	if c.sent[transport] == nil {
		c.sent[transport] = map[int]string{}
	}
	c.sent[transport][n] = text
}

func (c *browserControl) published(transport string) map[int]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.sent[transport])
}

// browserPublish posts one message through the signed REST API. It returns
// errors instead of failing the test: it runs on a server goroutine.
func browserPublish(ctx context.Context, tg *testGateway, channel string, n int, text string) error {
	msg := client.Message{User: "browser-test", Channel: channel, Message: map[string]any{"n": n, "text": text}}
	if _, err := tg.nodeAPI().Send(ctx, msg); err != nil {
		return fmt.Errorf("publish %d: %w", n, err)
	}
	return nil
}
