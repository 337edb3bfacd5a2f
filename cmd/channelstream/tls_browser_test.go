package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// tlsBrowserStreams is how many EventSource streams one page opens: more
// than the six connections per origin browsers allow over HTTP/1.1.
const tlsBrowserStreams = 10

// tlsBrowserRun is what web/test/tls.mjs prints.
type tlsBrowserRun struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
	Browser  string   `json:"browser"`
	Protocol string   `json:"protocol"`
	Opened   int      `json:"opened"`
	Received []int    `json:"received"`
	Console  []string `json:"console"`
}

// TestBrowserEventSourcesOverHTTP2 has headless Chromium open ten
// EventSource streams from one page to a node serving HTTPS with a
// throwaway certificate. Over HTTP/2 all ten share one connection and each
// receives. Over HTTP/1.1 Chromium's six connections per origin hold the
// rest back: logged as the limit HTTP/2 lifts, not a failure.
func TestBrowserEventSourcesOverHTTP2(t *testing.T) {
	node, webDir := browserTools(t)
	tg := startTLSGateway(t, newTestCert(t, 1))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { // the streams' channel gets a message every 100 ms
		api := tg.nodeAPI()
		for i := 0; ctx.Err() == nil; i++ {
			_, _ = api.Send(ctx, client.Message{User: "sys", Channel: "many", Message: msgText(fmt.Sprint(i))})
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	run := func(http2 bool) tlsBrowserRun {
		t.Helper()
		ids := make([]string, tlsBrowserStreams)
		for i := range ids {
			ids[i] = tg.Connect(fmt.Sprintf("user-%v-%d", http2, i), "many")
		}
		cfg, err := json.Marshal(map[string]any{"baseURL": tg.URL, "connIDs": ids, "http2": http2, "waitMs": 5000, "timeoutMs": 50000})
		if err != nil {
			t.Fatal(err)
		}
		out, runErr := browserRunScript(t, node, webDir, "tls.mjs", "CS_TLS_CONFIG", cfg, 60*time.Second)
		var res tlsBrowserRun
		if err := json.Unmarshal(out, &res); err != nil || !res.OK {
			t.Fatalf("tls.mjs (%v, %v): %s", runErr, err, out)
		}
		for _, l := range res.Console {
			t.Logf("console %s", l)
		}
		return res
	}
	receiving := func(r tlsBrowserRun) (n int) {
		for _, c := range r.Received {
			if c > 0 {
				n++
			}
		}
		return n
	}

	h2 := run(true)
	t.Logf("%s over %s: %d of %d streams open, messages per stream %v", h2.Browser, h2.Protocol, h2.Opened, tlsBrowserStreams, h2.Received)
	if h2.Protocol != "h2" || receiving(h2) != tlsBrowserStreams {
		t.Errorf("over %q %d of %d streams received, want every one over h2", h2.Protocol, receiving(h2), tlsBrowserStreams)
	}
	h1 := run(false)
	t.Logf("over %s: %d of %d streams received (browsers allow six connections per origin over HTTP/1.1), messages per stream %v",
		h1.Protocol, receiving(h1), tlsBrowserStreams, h1.Received)
	if h1.Protocol != "http/1.1" {
		t.Errorf("with --disable-http2 the page came over %q, want http/1.1", h1.Protocol)
	}
}
