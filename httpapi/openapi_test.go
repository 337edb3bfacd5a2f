package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/jsonschema/v6"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/channelstream-go/channelstream-go/core"
)

// openAPIMethods are the operation keys of an OpenAPI Path Item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// fullAPI is a server with every optional handler configured, so that it
// serves every route of the table.
func fullAPI(t *testing.T) *apiT {
	stub := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	return newAdminAPI(t, func(c *Config) {
		c.WebSocket, c.SSE, c.LongPoll, c.Static = stub, stub, stub, stub
		c.Build = Build{Version: "v1.2.3", Revision: "0123456789abcdef", Modified: true}
	})
}

// fetchOpenAPI gets /openapi.json with the signature and decodes it.
func (a *apiT) fetchOpenAPI(hdr map[string]string) (map[string]any, []byte) {
	a.t.Helper()
	h := map[string]string{"X-Channelstream-Secret": a.token()}
	for k, v := range hdr {
		h[k] = v
	}
	code, head, b := a.raw("GET", "/openapi.json", "", h)
	status(a.t, code, http.StatusOK, b)
	if ct := head.Get("Content-Type"); ct != "application/json" {
		a.t.Fatalf("Content-Type %q", ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		a.t.Fatalf("decode /openapi.json: %v", err)
	}
	return doc, b
}

// operations lists "METHOD /path" for every operation of a Paths Object.
func operations(paths map[string]any) []string {
	var out []string
	for p, item := range paths {
		for _, m := range openAPIMethods {
			if _, ok := item.(map[string]any)[m]; ok {
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
	}
	slices.Sort(out)
	return out
}

func routeList(rs []Route) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Method+" "+r.Path)
	}
	slices.Sort(out)
	return out
}

// missing lists the elements of a not in b.
func missing(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	a := fullAPI(t)
	routes := routeList(a.api.Routes())
	doc, _ := a.fetchOpenAPI(nil)
	served := operations(doc["paths"].(map[string]any))
	if m := missing(routes, served); len(m) > 0 {
		t.Errorf("routed but not in /openapi.json: %v", m)
	}
	if m := missing(served, routes); len(m) > 0 {
		t.Errorf("in /openapi.json but not routed: %v", m)
	}
	// The template may not describe routes the table lacks either (the
	// served document leaves those out silently).
	var tmpl map[string]any
	if err := json.Unmarshal(openAPITemplate, &tmpl); err != nil {
		t.Fatal(err)
	}
	if m := missing(operations(tmpl["paths"].(map[string]any)), routes); len(m) > 0 {
		t.Errorf("openapi.json describes routes nobody serves: %v", m)
	}
	// Every route of the table is on the router (or is /ws, served ahead
	// of it).
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, r := range a.api.Routes() {
		if r.Path == "/ws" {
			continue
		}
		if h, _, _ := a.api.router.Lookup(r.Method, param.ReplaceAllString(r.Path, "x")); h == nil {
			t.Errorf("%s %s is listed by Routes but not on the router", r.Method, r.Path)
		}
	}
	if v := doc["info"].(map[string]any)["version"]; v != "v1.2.3 (0123456789ab, modified)" {
		t.Errorf("info.version %q, want the build", v)
	}
}

func TestOpenAPILeavesOutRoutesNotServed(t *testing.T) {
	a := newAPI(t, nil) // no transports, no static files
	doc, _ := a.fetchOpenAPI(nil)
	paths := doc["paths"].(map[string]any)
	for _, p := range []string{"/ws", "/sse", "/listen", "/static/{filepath}"} {
		if _, ok := paths[p]; ok {
			t.Errorf("%s is documented but not served", p)
		}
	}
	if got, want := operations(paths), routeList(a.api.Routes()); !slices.Equal(got, want) {
		t.Errorf("documented %v, routed %v", got, want)
	}
}

func TestOpenAPIMountAPIAddsPaths(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	a := newAPI(t, func(c *Config, _ *core.Config) {
		c.Mount = map[string]http.Handler{"/extra": page}
		c.MountAPI = []byte(`{"/extra": {"get": {"operationId": "extra", "responses": {"200": {"description": "ok"}}}}}`)
	})
	doc, _ := a.fetchOpenAPI(nil)
	if !slices.Contains(operations(doc["paths"].(map[string]any)), "GET /extra") {
		t.Fatalf("the mount's path is missing: %v", doc["paths"])
	}
	_, err := New(Config{Hub: a.hub, MountAPI: []byte(`{"/connect": {}}`)})
	if err == nil || !strings.Contains(err.Error(), "/connect is already the server's") {
		t.Fatalf("a mount describing a server path: err %v", err)
	}
}

func TestOpenAPIAccess(t *testing.T) {
	a := fullAPI(t)
	t.Run("without a signature 403 with upstream's body", func(t *testing.T) {
		code, _, b := a.raw("GET", "/openapi.json", "", nil)
		status(t, code, http.StatusForbidden, b)
		jsonEq(t, b, `{"message": "Access was denied to this resource.\n\n\n\n\n", "code": "403 Forbidden", "title": "Forbidden"}`)
	})
	t.Run("a bad signature 401", func(t *testing.T) {
		code, _, b := a.raw("GET", "/openapi.json", "", map[string]string{"X-Channelstream-Secret": "x.y.z"})
		status(t, code, http.StatusUnauthorized, b)
	})
	t.Run("the signature in the query string", func(t *testing.T) {
		code, _, b := a.raw("GET", "/openapi.json?secret="+a.token(), "", nil)
		status(t, code, http.StatusOK, b)
	})
	t.Run("an admin session", func(t *testing.T) {
		c := a.sessionCookie()
		code, _, b := a.raw("GET", "/openapi.json", "", map[string]string{"Cookie": c.Name + "=" + c.Value})
		status(t, code, http.StatusOK, b)
	})
	t.Run("behind a trusted proxy's X-Script-Name the prefix is the server", func(t *testing.T) {
		if doc, _ := a.fetchOpenAPI(map[string]string{"X-Script-Name": "/rt"}); doc["servers"] != nil {
			t.Fatalf("an untrusted X-Script-Name made servers %v", doc["servers"])
		}
		proxied := newAPI(t, func(c *Config, _ *core.Config) { c.TrustedProxies = []string{"127.0.0.1"} })
		doc, _ := proxied.fetchOpenAPI(map[string]string{"X-Script-Name": "/rt"})
		if s := fmt.Sprint(doc["servers"]); s != "[map[url:/rt]]" {
			t.Fatalf("servers %s", s)
		}
		if plain, _ := proxied.fetchOpenAPI(nil); plain["servers"] != nil {
			t.Fatalf("servers without a prefix: %v", plain["servers"])
		}
	})
}

// validateOpenAPI checks doc against the OpenAPI 3.1 schema with
// libopenapi-validator and returns what it found.
func validateOpenAPI(t *testing.T, doc []byte) []string {
	t.Helper()
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatalf("libopenapi: %v", err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	ok, verrs := v.ValidateDocument()
	var out []string
	for _, e := range verrs {
		out = append(out, e.Error())
		for _, f := range e.SchemaValidationErrors {
			out = append(out, "  "+f.FieldPath+" ("+f.KeywordLocation+"): "+f.Reason)
		}
	}
	if !ok && len(out) == 0 {
		out = append(out, "invalid, no reason given")
	}
	return out
}

func TestOpenAPIDocumentIsValidOpenAPI31(t *testing.T) {
	a := fullAPI(t)
	doc, raw := a.fetchOpenAPI(nil)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi %v", doc["openapi"])
	}
	if problems := validateOpenAPI(t, raw); len(problems) > 0 {
		t.Fatalf("/openapi.json is not valid OpenAPI 3.1:\n%s", strings.Join(problems, "\n"))
	}
	// The validator does find a broken document.
	doc["paths"].(map[string]any)["/connect"].(map[string]any)["post"].(map[string]any)["responses"] = "none"
	broken, _ := json.Marshal(doc)
	if len(validateOpenAPI(t, broken)) == 0 {
		t.Fatal("a document with responses: \"none\" passed validation")
	}
}

// examples finds every schema with examples in the document: media types
// (example, examples.*.value) and parameters (example); at is the JSON
// pointer of the schema.
func examples(node any, ptr string, found func(at, where string, value any)) {
	m, ok := node.(map[string]any)
	if !ok {
		if l, ok := node.([]any); ok {
			for i, v := range l {
				examples(v, fmt.Sprintf("%s/%d", ptr, i), found)
			}
		}
		return
	}
	if _, ok := m["schema"]; ok {
		if ex, ok := m["example"]; ok {
			found(ptr+"/schema", ptr+"/example", ex)
		}
		if exs, ok := m["examples"].(map[string]any); ok {
			for name, ex := range exs {
				found(ptr+"/schema", ptr+"/examples/"+name, ex.(map[string]any)["value"])
			}
		}
	}
	for k, v := range m {
		examples(v, ptr+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), found)
	}
}

func TestOpenAPIExamplesMatchTheirSchemas(t *testing.T) {
	a := fullAPI(t)
	_, raw := a.fetchOpenAPI(nil)
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("mem://openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	examples(doc, "", func(at, where string, value any) {
		n++
		sch, err := c.Compile("mem://openapi.json#" + at)
		if err != nil {
			t.Errorf("compile %s: %v", at, err)
			return
		}
		if err := sch.Validate(value); err != nil {
			t.Errorf("%s does not match %s: %v", where, at, err)
		}
	})
	if n < 15 {
		t.Fatalf("only %d examples found", n)
	}
	// A wrong example is caught.
	sch, err := c.Compile("mem://openapi.json#/components/schemas/ConnectResult")
	if err != nil {
		t.Fatal(err)
	}
	if sch.Validate(map[string]any{"conn_id": "not a uuid"}) == nil {
		t.Fatal("a wrong ConnectResult passed")
	}
}
