package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// soakMaxBody is the node's max_body_bytes in the soak: oversized bodies
// stay cheap to send.
const soakMaxBody = 128 << 10

// badRequest is one kind of malformed request and the answer it must get:
// a 4xx whose JSON body has the shape PROTOCOL.md §1 and the README give
// it: {"error": "..."} for 400, 404, 413; upstream's bodies for 401
// ({"request": "Bad Signature"}), 403 (Pyramid's) and 422 (marshmallow's
// field errors; a list for /listen's bad UUID).
type badRequest struct {
	name   string
	method string
	path   string // with its query
	body   func(ids func(n int) []int64) (body string, channel string, msgIDs []int64)
	auth   string // "" valid, "none", "garbage", "wrong", "expired"
	ws     bool   // send a WebSocket handshake
	status int
	shape  string // "error", "fields", "list", "signature", "forbidden", "unauthorized"
	// applied says that the node judges the request when it applies the
	// change (against its state or limits), so that while its backend is
	// away it refuses it with 503 first, as it does every change.
	applied bool
}

// apiEndpoints are the signed REST routes.
var apiEndpoints = []struct{ method, path, wrongTypes string }{
	{"POST", "/connect", `{"username": 5, "channels": "x", "conn_id": 7, "user_state": []}`},
	{"POST", "/subscribe", `{"conn_id": 7, "channels": {}}`},
	{"POST", "/unsubscribe", `{"conn_id": [], "channels": 3}`},
	{"POST", "/user_state", `{"user": 5, "user_state": "x"}`},
	{"POST", "/message", `[{"user": [], "channel": 3, "message": "x"}]`},
	{"PATCH", "/message", `{"uuid": 5, "channel": []}`},
	{"DELETE", "/message", `[{"uuid": "x", "channel": 3}]`},
	{"POST", "/channel_config", `{"soak-x": 5}`},
	{"POST", "/info", `{"info": 4}`},
	{"POST", "/disconnect", `{"conn_id": 7}`},
}

func fixed(s string) func(func(int) []int64) (string, string, []int64) {
	return func(func(int) []int64) (string, string, []int64) { return s, "", nil }
}

// badRequests builds the table: every malformation on every API route,
// plus the transports' own.
func badRequests() []badRequest {
	var out []badRequest
	unknown := "00000000-0000-4000-8000-00000000dead"
	for _, e := range apiEndpoints {
		add := func(name, body string, auth string, status int, shape string) {
			out = append(out, badRequest{name: e.method + " " + e.path + ": " + name, method: e.method, path: e.path,
				body: fixed(body), auth: auth, status: status, shape: shape})
		}
		add("bad JSON", `{"username": `, "", 400, "error")
		add("truncated list", `[1, 2`, "", 400, "error")
		add("oversized body", `{"pad": "`+strings.Repeat("x", soakMaxBody)+`"}`, "", 413, "error")
		add("wrong types", e.wrongTypes, "", 422, "fields")
		if e.path == "/disconnect" { // needs no signature (upstream)
			add("no signature and no conn_id", `{}`, "none", 422, "fields")
		} else {
			add("no signature", `{}`, "none", 403, "forbidden")
		}
		add("garbage signature", `{}`, "garbage", 401, "signature")
		add("signed with another secret", `{}`, "wrong", 401, "signature")
		add("expired signature", `{}`, "expired", 401, "signature")
	}
	api := func(name, method, path, body string, status int, shape string) badRequest {
		return badRequest{name: method + " " + path + ": " + name, method: method, path: path, body: fixed(body), status: status, shape: shape}
	}
	applied := func(b badRequest) badRequest { b.applied = true; return b }
	out = append(out,
		applied(api("unknown connection", "POST", "/subscribe", `{"conn_id": "`+unknown+`", "channels": ["soak-0"]}`, 422, "fields")),
		applied(api("unknown connection", "POST", "/unsubscribe", `{"conn_id": "`+unknown+`", "channels": ["soak-0"]}`, 422, "fields")),
		applied(api("unknown user", "POST", "/user_state", `{"user": "nobody-soak", "user_state": {"a": 1}}`, 422, "fields")),
		api("empty body", "POST", "/disconnect", ``, 400, "error"),
		api("a list", "POST", "/channel_config", `[]`, 400, "error"),
		applied(api("too many channels", "POST", "/connect", `{"username": "soak-bad", "channels": [`+manyChannels(1001)+`]}`, 422, "fields")),
		api("wrong method", "GET", "/connect", ``, 404, "error"),
		api("wrong method", "PUT", "/message", `{}`, 404, "error"),
		api("no such route", "POST", "/nonexistent", `{}`, 404, "error"),
		// Valid-looking messages inside refused requests: none may ever be
		// delivered (the ledger records them as refused).
		badRequest{name: "POST /message: a good message then a bad one", method: "POST", path: "/message", status: 422, shape: "fields",
			body: func(ids func(int) []int64) (string, string, []int64) {
				id := ids(1)
				return fmt.Sprintf(`[{"user": "bad", "channel": "soak-0", "message": {"id": %d}}, {"user": 5, "channel": "soak-0", "message": {}}]`, id[0]), "soak-0", id
			}},
		badRequest{name: "POST /message: a message over max_message_bytes", method: "POST", path: "/message", status: 422, shape: "fields",
			body: func(ids func(int) []int64) (string, string, []int64) {
				id := ids(1)
				return fmt.Sprintf(`[{"user": "bad", "channel": "soak-0", "message": {"id": %d, "pad": "%s"}}]`, id[0], strings.Repeat("x", 70000)), "soak-0", id
			}},
		badRequest{name: "POST /message: pm_users not a list", method: "POST", path: "/message", status: 422, shape: "fields",
			body: func(ids func(int) []int64) (string, string, []int64) {
				id := ids(1)
				return fmt.Sprintf(`[{"user": "bad", "channel": "soak-0", "message": {"id": %d}, "pm_users": 5}]`, id[0]), "soak-0", id
			}},
	)
	transport := func(name, path string, ws bool, status int, shape string) badRequest {
		return badRequest{name: "GET " + path + ": " + name, method: "GET", path: path, body: fixed(""), auth: "none", ws: ws, status: status, shape: shape}
	}
	out = append(out,
		transport("no conn_id", "/listen", false, 400, "error"),
		transport("not a UUID", "/listen?conn_id=bad", false, 422, "list"),
		transport("unknown connection", "/listen?conn_id="+unknown, false, 401, "unauthorized"),
		transport("bad callback", "/listen?conn_id="+unknown+"&callback=1bad", false, 400, "error"),
		transport("bad last_seq", "/listen?conn_id="+unknown+"&last_seq=x", false, 422, "fields"),
		transport("no conn_id", "/sse", false, 422, "fields"),
		transport("not a UUID", "/sse?conn_id=bad", false, 422, "fields"),
		transport("unknown connection", "/sse?conn_id="+unknown, false, 404, "error"),
		transport("no handshake", "/ws?conn_id="+unknown, false, 400, "error"),
		transport("not a UUID", "/ws?conn_id=bad", true, 422, "fields"),
		transport("bad last_seq", "/ws?conn_id="+unknown+"&last_seq=x", true, 422, "fields"),
	)
	return out
}

// manyChannels lists n distinct channel names, JSON-quoted.
func manyChannels(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf(`"soak-bad-%d"`, i)
	}
	return strings.Join(names, ",")
}

// badInjector sends the table's requests at random, at a steady rate,
// checking every answer; now and then it also opens a WebSocket for an
// unknown connection, which must be closed with 1000 (upstream).
type badInjector struct {
	base, secret string
	outages      *soakOutages // the node's: they explain 503s to applied requests
	ledger       *soakLedger
	errs         *soakErrors
	cases        []badRequest
	client       *http.Client
	nextID       atomic.Int64 // negative ids of refused messages

	mu     sync.Mutex
	counts map[int]int // status → answers
	sent   int
}

func newBadInjector(node *soakNode, ledger *soakLedger, errs *soakErrors) *badInjector {
	return &badInjector{base: node.URL, secret: node.secret, outages: node.outages, ledger: ledger, errs: errs, cases: badRequests(),
		client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}, counts: map[int]int{}}
}

// run sends rate requests per second from several workers until ctx ends.
func (b *badInjector) run(ctx context.Context, rate int) {
	const workers = 16
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			every := time.Second * workers / time.Duration(max(rate, 1))
			for i := 0; pause(ctx, every); i++ {
				if i%50 == 0 {
					b.unknownWebSocket()
					continue
				}
				b.send(b.cases[rng.IntN(len(b.cases))])
			}
		}()
	}
	wg.Wait()
	b.client.CloseIdleConnections()
}

func (b *badInjector) ids(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = -b.nextID.Add(1)
	}
	return out
}

func (b *badInjector) send(c badRequest) {
	body, channel, ids := c.body(b.ids)
	req, err := http.NewRequest(c.method, b.base+c.path, strings.NewReader(body))
	if err != nil {
		b.errs.add("bad request not built", "%s: %v", c.name, err)
		return
	}
	switch c.auth {
	case "":
		req.Header.Set("X-Channelstream-Secret", client.Sign(b.secret, "channelstream", time.Now()))
	case "garbage":
		req.Header.Set("X-Channelstream-Secret", "not.a.token")
	case "wrong":
		req.Header.Set("X-Channelstream-Secret", client.Sign("not-the-secret", "channelstream", time.Now()))
	case "expired":
		req.Header.Set("X-Channelstream-Secret", client.Sign(b.secret, "channelstream", time.Now().Add(-5*time.Minute)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.ws {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	sent := time.Now()
	resp, err := b.client.Do(req)
	if err != nil {
		if ids != nil {
			b.ledger.record(channel, ids, sent, time.Now(), 0)
		}
		b.errs.add("bad request got no answer", "%s: %v", c.name, err)
		return
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if ids != nil {
		b.ledger.record(channel, ids, sent, time.Now(), resp.StatusCode)
	}
	b.mu.Lock()
	b.sent++
	b.counts[resp.StatusCode]++
	b.mu.Unlock()
	if c.applied && resp.StatusCode == http.StatusServiceUnavailable && b.outages.explains("bad "+c.method+" "+c.path, sent, time.Now(), answer) {
		return
	}
	if resp.StatusCode != c.status || !hasShape(answer, c.shape) {
		b.errs.add("bad request answered wrongly", "%s: %d %.200s (want %d with a %s body)", c.name, resp.StatusCode, answer, c.status, c.shape)
	}
}

// unknownWebSocket opens /ws for a connection that does not exist: the
// server upgrades and closes with 1000 "unknown connection".
func (b *badInjector) unknownWebSocket() {
	ws, _, err := wsDialer.Dial("ws"+strings.TrimPrefix(b.base, "http")+"/ws?conn_id=00000000-0000-4000-8000-00000000beef", nil)
	if err != nil {
		b.errs.add("bad request got no answer", "/ws unknown connection: %v", err)
		return
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*gws.CloseError); !ok || ce.Code != 1000 {
			b.errs.add("bad request answered wrongly", "/ws unknown connection: %v, want close 1000", err)
		}
		b.mu.Lock()
		b.sent++
		b.counts[1000]++
		b.mu.Unlock()
		return
	}
}

// hasShape checks an error body against its expected shape.
func hasShape(body []byte, shape string) bool {
	switch shape {
	case "list":
		var v []string
		return json.Unmarshal(body, &v) == nil && len(v) > 0
	case "signature":
		var v map[string]any
		return json.Unmarshal(body, &v) == nil && len(v) == 1 && v["request"] == "Bad Signature"
	case "forbidden":
		var v map[string]any
		return json.Unmarshal(body, &v) == nil && v["code"] == "403 Forbidden"
	case "unauthorized": // Pyramid's 401 as JSON (the injector sends Accept: application/json)
		var v map[string]any
		return json.Unmarshal(body, &v) == nil && v["code"] == "401 Unauthorized"
	case "fields":
		var v map[string]any
		return json.Unmarshal(body, &v) == nil && len(v) > 0 && v["error"] == nil
	default:
		return isErrorJSON(body)
	}
}

// summary is how many bad requests got which status.
func (b *badInjector) summary() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	codes := make([]int, 0, len(b.counts))
	for c := range b.counts {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		label := fmt.Sprint(c)
		if c == 1000 {
			label = "ws close 1000"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", label, b.counts[c]))
	}
	return fmt.Sprintf("%d bad requests of %d kinds (%s)", b.sent, len(b.cases)+1, strings.Join(parts, ", "))
}
