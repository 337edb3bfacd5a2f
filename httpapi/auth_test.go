package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

const body403 = `{"message": "Access was denied to this resource.\n\n\n\n\n", "code": "403 Forbidden", "title": "Forbidden"}`

func TestAuthentication(t *testing.T) {
	a := newAPI(t, nil)
	user := `{"username": "alice"}`
	for _, tc := range []struct {
		name   string
		path   string
		hdr    map[string]string
		code   int
		body   string
		anyVal bool
	}{
		{name: "no token is forbidden (checklist 1)", path: "/connect", code: 403, body: body403},
		{name: "other secret is a bad signature (2)", path: "/connect",
			hdr: map[string]string{"X-Channelstream-Secret": client.Sign("nope", "channelstream", time.Now())}, code: 401, body: `{"request": "Bad Signature"}`},
		{name: "61 s old token is rejected (3)", path: "/connect",
			hdr: map[string]string{"X-Channelstream-Secret": client.Sign("test-secret", "channelstream", time.Now().Add(-61*time.Second))}, code: 401, body: `{"request": "Bad Signature"}`},
		{name: "55 s old token is accepted (3)", path: "/connect",
			hdr: map[string]string{"X-Channelstream-Secret": client.Sign("test-secret", "channelstream", time.Now().Add(-55*time.Second))}, code: 200, anyVal: true},
		{name: "token 30 s in the future is accepted (5)", path: "/connect",
			hdr: map[string]string{"X-Channelstream-Secret": client.Sign("test-secret", "channelstream", time.Now().Add(30*time.Second))}, code: 200, anyVal: true},
		{name: "token 1 h in the future is a bad signature (PROTOCOL §2 #17)", path: "/connect",
			hdr: map[string]string{"X-Channelstream-Secret": client.Sign("test-secret", "channelstream", time.Now().Add(time.Hour))}, code: 401, body: `{"request": "Bad Signature"}`},
		{name: "token with the largest timestamp is a bad signature", path: "/connect",
			hdr: map[string]string{"X-Channelstream-Secret": signWith("test-secret", "channelstream", rawURL([]byte{255, 255, 255, 255, 255, 255, 255, 255}), rawURL)}, code: 401, body: `{"request": "Bad Signature"}`},
		{name: "any signed value is accepted (6)", path: "/connect",
			hdr: map[string]string{"X-Channelstream-Secret": client.Sign("test-secret", "xyz", time.Now())}, code: 200, anyVal: true},
		{name: "garbage token is a bad signature", path: "/connect",
			hdr: map[string]string{"X-Channelstream-Secret": "not-a-token"}, code: 401, body: `{"request": "Bad Signature"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, b := a.raw("POST", tc.path, user, tc.hdr)
			status(t, code, tc.code, b)
			if !tc.anyVal {
				jsonEq(t, b, tc.body)
			}
		})
	}
	t.Run("secret in the query string is accepted (7)", func(t *testing.T) {
		code, _, b := a.raw("POST", "/connect?secret="+a.token(), user, nil)
		status(t, code, 200, b)
	})
	t.Run("a bad secret on an open route is still 401 (10)", func(t *testing.T) {
		code, _, b := a.raw("GET", "/disconnect?conn_id="+core.NewUUID()+"&secret=bad", "", nil)
		status(t, code, 401, b)
	})
	t.Run("open routes need no token (86)", func(t *testing.T) {
		code, _, b := a.raw("GET", "/disconnect?conn_id="+core.NewUUID(), "", nil)
		status(t, code, 200, b)
		jsonEq(t, b, `false`)
	})
}

func TestSignatureMaxAgeOff(t *testing.T) {
	a := newAPI(t, func(c *Config, _ *core.Config) { c.NoSignatureMaxAge = true })
	tok := client.Sign(a.secret, "channelstream", time.Now().Add(-time.Hour))
	code, _, b := a.raw("POST", "/connect", `{"username": "a"}`, map[string]string{"X-Channelstream-Secret": tok})
	status(t, code, 200, b) // checklist 4
}

func TestAllowList(t *testing.T) {
	for _, tc := range []struct {
		name  string
		allow []string
		good  bool
		code  int
	}{
		{name: "not listed: valid token is forbidden (8)", allow: []string{"10.1.1.1"}, good: true, code: 403},
		{name: "not listed: bad token is forbidden, not 401 (8)", allow: []string{"10.1.1.1"}, good: false, code: 403},
		{name: "0.0.0.0 allows everyone (9)", allow: []string{"0.0.0.0"}, good: true, code: 200},
		{name: "CIDR range allows its members (fix 13)", allow: []string{"127.0.0.0/8"}, good: true, code: 200},
		{name: "CIDR range excludes others (fix 13)", allow: []string{"10.0.0.0/8"}, good: true, code: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, func(c *Config, _ *core.Config) { c.AllowPostingFrom = tc.allow })
			tok := a.token()
			if !tc.good {
				tok = "bad.token.x"
			}
			code, _, b := a.raw("POST", "/connect", `{"username": "a"}`, map[string]string{"X-Channelstream-Secret": tok})
			status(t, code, tc.code, b)
			if tc.code == 403 {
				jsonEq(t, b, body403)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	t.Run("OPTIONS on any path is 200 with CORS headers (11)", func(t *testing.T) {
		a := newAPI(t, nil)
		code, h, b := a.raw("OPTIONS", "/anything/at/all", "", nil)
		status(t, code, 200, b)
		if len(b) != 0 {
			t.Fatalf("body %q, want empty", b)
		}
		if got := h.Get("Access-Control-Allow-Methods"); got != "GET, POST, OPTIONS, PUT, DELETE, PATCH" {
			t.Fatalf("Allow-Methods %q", got)
		}
	})
	t.Run("every response allows any origin by default, errors too (12, fix 12)", func(t *testing.T) {
		a := newAPI(t, nil)
		for _, path := range []string{"/connect", "/nowhere"} {
			_, h, _ := a.raw("POST", path, "{}", map[string]string{"Origin": "http://x.test"})
			if h.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("%s: no Access-Control-Allow-Origin", path)
			}
		}
	})
	t.Run("allow_cors matches Origin substrings (13)", func(t *testing.T) {
		a := newAPI(t, func(c *Config, _ *core.Config) { c.AllowCORS = []string{"example.com"} })
		_, h, _ := a.raw("OPTIONS", "/connect", "", map[string]string{"Origin": "http://sub.example.com"})
		if h.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatal("matching origin got no CORS header")
		}
		_, h, _ = a.raw("OPTIONS", "/connect", "", map[string]string{"Origin": "http://evil.net"})
		if h.Get("Access-Control-Allow-Origin") != "" {
			t.Fatal("other origin got a CORS header")
		}
	})
}

func TestEnforceHTTPS(t *testing.T) {
	a := newAPI(t, func(c *Config, _ *core.Config) { c.EnforceHTTPS = true })
	code, _, b := a.raw("POST", "/connect", `{"username": "a"}`, map[string]string{"X-Channelstream-Secret": a.token()})
	status(t, code, http.StatusNotAcceptable, b) // checklist 15
	code, _, b = a.raw("GET", "/", "", nil)
	status(t, code, http.StatusNotAcceptable, b)
	for _, h := range []string{"X-Scheme", "X-Url-Scheme", "X-Forwarded-Proto"} {
		code, _, b = a.raw("POST", "/connect", `{"username": "a"}`, map[string]string{"X-Channelstream-Secret": a.token(), h: "https"})
		status(t, code, http.StatusNotAcceptable, b) // not from a trusted proxy: ignored
	}
	proxied := newAPI(t, func(c *Config, _ *core.Config) { c.EnforceHTTPS, c.TrustedProxies = true, []string{"127.0.0.1"} })
	for _, h := range []string{"X-Scheme", "X-Url-Scheme", "X-Forwarded-Proto"} {
		code, _, b = proxied.raw("POST", "/connect", `{"username": "a"}`, map[string]string{"X-Channelstream-Secret": proxied.token(), h: "https"})
		status(t, code, 200, b)
	}
	code, _, b = proxied.raw("POST", "/connect", `{"username": "a"}`, map[string]string{"X-Channelstream-Secret": proxied.token(), "X-Scheme": "http"})
	status(t, code, http.StatusNotAcceptable, b)
}

func TestRouting(t *testing.T) {
	a := newAPI(t, nil)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/connect"}, {"PUT", "/message"}, {"GET", "/connect/"},
	} {
		t.Run(tc.method+" "+tc.path+" is 404 (16)", func(t *testing.T) {
			code, b := a.call(tc.method, tc.path, nil)
			status(t, code, 404, b)
		})
	}
	t.Run("a trusted proxy's X-Script-Name prefix is stripped (126)", func(t *testing.T) {
		proxied := newAPI(t, func(c *Config, _ *core.Config) { c.TrustedProxies = []string{"127.0.0.1"} })
		code, _, b := proxied.raw("POST", "/prefix/info", "", map[string]string{"X-Script-Name": "/prefix", "X-Channelstream-Secret": proxied.token()})
		status(t, code, 200, b)
		jsonEq(t, b, `{"channels": {}, "users": []}`)
	})
	t.Run("anyone else's X-Script-Name is ignored", func(t *testing.T) {
		code, _, b := a.raw("POST", "/prefix/info", "", map[string]string{"X-Script-Name": "/prefix", "X-Channelstream-Secret": a.token()})
		status(t, code, 404, b)
	})
}

func TestBodyLimit(t *testing.T) {
	a := newAPI(t, func(c *Config, _ *core.Config) { c.MaxBodyBytes = 64 })
	big := `{"username": "` + string(make([]byte, 100)) + `"}`
	for _, path := range []string{"/connect", "/message", "/info", "/channel_config", "/user_state", "/subscribe", "/unsubscribe"} {
		t.Run(path+" over the limit is 413 (fix 2)", func(t *testing.T) {
			code, b := a.call("POST", path, big)
			status(t, code, http.StatusRequestEntityTooLarge, b)
			jsonEq(t, b, `{"error": "request body is larger than 64 bytes"}`)
		})
	}
	code, b := a.call("POST", "/disconnect", big)
	status(t, code, http.StatusRequestEntityTooLarge, b)
	if info := a.hub.Info(t.Context(), core.DefaultInfoOptions()); len(info.Channels) != 0 {
		t.Fatalf("hub changed: %+v", info)
	}
}

func TestHealth(t *testing.T) {
	a := newAPI(t, nil)
	code, _, b := a.raw("GET", "/healthz", "", nil)
	status(t, code, 200, b)
	jsonEq(t, b, `{"status": "ok"}`)
	code, _, b = a.raw("GET", "/readyz", "", nil)
	status(t, code, 200, b)
	a.hub.Drain()
	code, _, b = a.raw("GET", "/readyz", "", nil)
	status(t, code, 503, b)
}

func TestMount(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("page " + r.URL.Path)) })
	a := newAPI(t, func(c *Config, _ *core.Config) { c.Mount = map[string]http.Handler{"/demo": page} })
	for _, path := range []string{"/demo", "/demo/connect"} {
		code, h, b := a.raw("POST", path, "", nil)
		status(t, code, 200, b)
		if string(b) != "page "+path || h.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s: %q %v", path, b, h)
		}
	}
}
