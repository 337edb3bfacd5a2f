package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// testGateway is a whole node (API and transports) on a free loopback port.
type testGateway struct {
	t      *testing.T
	g      *gateway
	URL    string // http://127.0.0.1:port, or https:// with TLS
	Secret string
	hc     *http.Client // trusts the node's certificate (nil: the default client)
	stop   context.CancelFunc
	done   chan error
	// spread, when set, are the cluster's nodes the API calls of Call,
	// post and Connect go to in turn (they include this one).
	spread []*testGateway
	turn   atomic.Uint64
}

// api returns a client of the API on the next node (see apiURL).
func (tg *testGateway) api() *client.Client {
	return client.New(client.Config{BaseURL: tg.apiURL(), Secret: tg.Secret, HTTPClient: tg.hc})
}

// nodeAPI returns a client of this node's own API.
func (tg *testGateway) nodeAPI() *client.Client {
	return client.New(client.Config{BaseURL: tg.URL, Secret: tg.Secret, HTTPClient: tg.hc})
}

// apiURL is the base URL of the node the next API call goes to.
func (tg *testGateway) apiURL() string {
	if len(tg.spread) == 0 {
		return tg.URL
	}
	return tg.spread[tg.turn.Add(1)%uint64(len(tg.spread))].URL
}

// startGateway runs a node with the default config adjusted by mutate; it
// is drained and stopped by t.Cleanup.
func startGateway(t *testing.T, mutate func(*Config)) *testGateway {
	t.Helper()
	cfg := defaultConfig()
	cfg.Host, cfg.Port = "127.0.0.1", 0
	cfg.Secret = "gateway-test-secret"
	cfg.ShutdownGrace = 2 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	lg := zerolog.Nop()
	if os.Getenv("CHANNELSTREAM_TEST_LOG") == "1" { // the nodes' debug log on stderr
		lg = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.DebugLevel)
	}
	g, err := newGateway(cfg, lg)
	if err != nil {
		t.Fatalf("newGateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tg := &testGateway{t: t, g: g, URL: "http://" + ln.Addr().String(), Secret: cfg.Secret, stop: cancel, done: make(chan error, 1)}
	if cfg.TLSCertFile != "" {
		tg.URL = "https://" + ln.Addr().String()
		tg.hc = trustingClient(t, cfg.TLSCertFile)
	}
	go func() { tg.done <- g.serve(ctx, ln) }()
	t.Cleanup(tg.Stop)
	return tg
}

// Stop drains the node and waits for serve to return.
func (tg *testGateway) Stop() {
	tg.stop()
	select {
	case err := <-tg.done:
		if err != nil {
			tg.t.Errorf("serve: %v", err)
		}
		tg.done <- nil // later Stop calls return at once
	case <-time.After(15 * time.Second):
		tg.t.Errorf("gateway did not stop within 15 s")
	}
}

// Call makes a signed API request with a JSON body (a string is sent as
// is, anything else is marshalled) and returns the status and body.
func (tg *testGateway) Call(method, path string, body any) (int, []byte) {
	tg.t.Helper()
	var in []byte
	switch v := body.(type) {
	case nil:
	case string:
		in = []byte(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			tg.t.Fatalf("marshal: %v", err)
		}
		in = b
	}
	code, b, err := tg.api().Call(context.Background(), method, path, in)
	if err != nil {
		tg.t.Fatal(err)
	}
	return code, b
}

// Connect creates a connection of user in channels and returns its id.
func (tg *testGateway) Connect(user string, channels ...string) string {
	tg.t.Helper()
	if channels == nil {
		channels = []string{}
	}
	code, b := tg.Call("POST", "/connect", map[string]any{"username": user, "channels": channels})
	if code != http.StatusOK {
		tg.t.Fatalf("connect: %d %s", code, b)
	}
	var v struct {
		ConnID string `json:"conn_id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		tg.t.Fatalf("connect answer %s: %v", b, err)
	}
	return v.ConnID
}

func TestGatewayServesAndDrains(t *testing.T) {
	tg := startGateway(t, nil)
	id := tg.Connect("alice", "news")
	code, b := tg.Call("POST", "/message", `{"user": "s", "channel": "news", "message": {"t": 1}}`)
	if code != http.StatusOK {
		t.Fatalf("message: %d %s", code, b)
	}
	resp, err := http.Get(tg.URL + "/listen?conn_id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var frames []map[string]any
	if err := json.Unmarshal(body, &frames); err != nil || len(frames) != 1 || frames[0]["type"] != "message" {
		t.Fatalf("listen: %d %s", resp.StatusCode, body)
	}
	tg.Stop()
	if _, err := http.Get(tg.URL + "/healthz"); err == nil {
		t.Fatal("server still answers after Stop")
	}
}

func TestGatewayServesTheClientLibrary(t *testing.T) {
	tg := startGateway(t, nil)
	for _, path := range []string{"/static/channelstream.js", "/static/channelstream/channelstream.js"} {
		resp, err := http.Get(tg.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
			t.Fatalf("%s: %d %s (checklist 120)", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
