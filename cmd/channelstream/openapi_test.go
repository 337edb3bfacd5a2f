package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/channelstream-go/channelstream-go/httpapi"
	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// liveOp is one operation of /openapi.json that the test can send: every
// required parameter and the body have examples.
type liveOp struct {
	id, method, path string
	op               map[string]any
}

// liveOrder ranks operations so that the examples make a story: Alice
// connects (the conn_id of the examples), subscribes, gets state and
// messages, her transports attach, and she is disconnected last.
func liveOrder(id string) int {
	for i, first := range []string{"connect", "subscribe", "unsubscribe", "userState", "sendMessages", "editMessages",
		"deleteMessages", "channelConfig", "info", "longPoll", "sse", "websocket"} {
		if id == first {
			return i
		}
	}
	if strings.HasPrefix(id, "disconnect") {
		return 1000
	}
	return 100
}

// gatewayOpenAPI gets the node's /openapi.json with a signature.
func gatewayOpenAPI(t *testing.T, tg *testGateway) (map[string]any, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", tg.URL+"/openapi.json", nil)
	req.Header.Set("X-Channelstream-Secret", client.Sign(tg.Secret, client.SignedValue, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, raw)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, raw
}

func TestOpenAPIOfTheGatewayListsEveryRoute(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.Demo = true })
	doc, _ := gatewayOpenAPI(t, tg)
	var documented []string
	for p, item := range doc["paths"].(map[string]any) {
		for m := range item.(map[string]any) {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	var routed []string
	for _, r := range append(tg.g.handler.(*httpapi.Server).Routes(), demoRoutes()...) {
		routed = append(routed, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(routed)
	if !slices.Equal(documented, routed) {
		t.Fatalf("documented and routed differ:\ndocumented %v\nrouted     %v", documented, routed)
	}
}

// TestOpenAPIExamplesAgainstTheGateway sends every request the document's
// examples make to a real node (demo on) and validates each answer against
// the document with libopenapi-validator.
func TestOpenAPIExamplesAgainstTheGateway(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.Demo = true })
	doc, raw := gatewayOpenAPI(t, tg)
	model, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(model)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Fatalf("the gateway's document (with the demo's paths) is not valid OpenAPI 3.1: %v", verrs)
	}
	var ops []liveOp
	for p, item := range doc["paths"].(map[string]any) {
		for m, op := range item.(map[string]any) {
			o := op.(map[string]any)
			ops = append(ops, liveOp{id: o["operationId"].(string), method: strings.ToUpper(m), path: p, op: o})
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if a, b := liveOrder(ops[i].id), liveOrder(ops[j].id); a != b {
			return a < b
		}
		return ops[i].id < ops[j].id
	})
	sent := 0
	for _, o := range ops {
		reqs, ok := exampleRequests(t, tg, o)
		if !ok {
			continue
		}
		for _, req := range reqs {
			sent++
			checkLiveAnswer(t, v, o, req)
		}
	}
	if sent < 30 {
		t.Fatalf("only %d example requests were sent", sent)
	}
}

// exampleRequests builds the requests of o's examples: one per request
// body example (one without a body when it has none), with path, query and
// header parameters from their examples. ok is false when a required input
// has no example.
func exampleRequests(t *testing.T, tg *testGateway, o liveOp) ([]*http.Request, bool) {
	path, query, header := o.path, url.Values{}, http.Header{}
	params, _ := o.op["parameters"].([]any)
	for _, p := range params {
		pm := p.(map[string]any)
		ex, has := pm["example"]
		if !has {
			if pm["required"] == true {
				return nil, false
			}
			continue
		}
		val := fmt.Sprint(ex)
		switch pm["in"] {
		case "path":
			path = strings.ReplaceAll(path, "{"+pm["name"].(string)+"}", val)
		case "query":
			query.Set(pm["name"].(string), val)
		case "header":
			header.Set(pm["name"].(string), val)
		}
	}
	bodies := []any{nil}
	if rb, ok := o.op["requestBody"].(map[string]any); ok {
		media, _ := rb["content"].(map[string]any)["application/json"].(map[string]any)
		exs, _ := media["examples"].(map[string]any)
		if len(exs) == 0 && rb["required"] == true {
			return nil, false
		}
		if len(exs) > 0 {
			bodies = nil
			names := slices.Sorted(func(yield func(string) bool) {
				for k := range exs {
					if !yield(k) {
						return
					}
				}
			})
			for _, n := range names {
				bodies = append(bodies, exs[n].(map[string]any)["value"])
			}
		}
	}
	var out []*http.Request
	for _, b := range bodies {
		var rd io.Reader
		if b != nil {
			enc, _ := json.Marshal(b)
			rd = bytes.NewReader(enc)
		}
		u := tg.URL + path
		if len(query) > 0 {
			u += "?" + query.Encode()
		}
		req, err := http.NewRequest(o.method, u, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header.Clone()
		if b != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if _, signed := o.op["security"]; signed {
			req.Header.Set("X-Channelstream-Secret", client.Sign(tg.Secret, client.SignedValue, time.Now()))
		}
		out = append(out, req)
	}
	return out, true
}

// checkLiveAnswer sends req and validates the answer against the document;
// an event stream is checked by its status and type only (it never ends).
func checkLiveAnswer(t *testing.T, v validator.Validator, o liveOp, req *http.Request) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req = req.WithContext(ctx)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", o.method, req.URL, err)
		return
	}
	defer resp.Body.Close()
	what := fmt.Sprintf("%s %s (%s) answered %d", o.method, req.URL.RequestURI(), o.id, resp.StatusCode)
	responses := o.op["responses"].(map[string]any)
	if _, ok := responses[fmt.Sprint(resp.StatusCode)]; !ok {
		t.Errorf("%s: status not in the document", what)
		return
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		if resp.StatusCode != http.StatusOK || o.path != "/sse" {
			t.Errorf("%s: an event stream", what)
		}
		return
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("%s: read: %v", what, err)
		return
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if req.GetBody != nil {
		req.Body, _ = req.GetBody()
	}
	if ok, verrs := v.ValidateHttpResponse(req, resp); !ok {
		for _, e := range verrs {
			msg := e.Message + ": " + e.Reason
			for _, f := range e.SchemaValidationErrors {
				msg += "\n    " + f.FieldPath + ": " + f.Reason
			}
			t.Errorf("%s, not as documented: %s\n  body %.400s", what, msg, body)
		}
	}
}
