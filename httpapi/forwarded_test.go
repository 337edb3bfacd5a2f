package httpapi

import (
	"net/http"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// TestEnforceHTTPSCoversTheTransports: enforce_https refuses plain http on
// /ws, /sse and /listen too, and lets them through from a trusted https
// proxy.
func TestEnforceHTTPSCoversTheTransports(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	transports := func(c *Config) { c.WebSocket, c.SSE, c.LongPoll = ok, ok, ok }
	plain := newAPI(t, func(c *Config, _ *core.Config) { c.EnforceHTTPS = true; transports(c) })
	proxied := newAPI(t, func(c *Config, _ *core.Config) {
		c.EnforceHTTPS, c.TrustedProxies = true, []string{"127.0.0.1"}
		transports(c)
	})
	for _, p := range []string{"/ws", "/sse", "/listen"} {
		code, _, b := plain.raw("GET", p, "", nil)
		status(t, code, http.StatusNotAcceptable, b)
		code, _, b = plain.raw("GET", p, "", map[string]string{"X-Forwarded-Proto": "https"})
		status(t, code, http.StatusNotAcceptable, b)
		code, _, b = proxied.raw("GET", p, "", map[string]string{"X-Forwarded-Proto": "https"})
		status(t, code, http.StatusTeapot, b)
	}
}

// TestScriptNameIsATrustedProxysOnly: mounted handlers read the prefix
// through ScriptName, which is empty unless a trusted proxy sent it.
func TestScriptNameIsATrustedProxysOnly(t *testing.T) {
	var seen string
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = ScriptName(r) + "|" + r.URL.Path
		w.WriteHeader(http.StatusNoContent)
	})
	mount := func(c *Config) { c.Mount = map[string]http.Handler{"/page": page} }
	cases := []struct {
		name    string
		trusted bool
		path    string
		header  string
		want    string
	}{
		{"trusted proxy", true, "/chat/page", "/chat", "/chat|/page"},
		{"trusted proxy, trailing slash", true, "/chat/page/x", "/chat/", "/chat|/page/x"},
		{"trusted proxy, unsafe prefix", true, "/page", `/a"b`, "|/page"},
		{"anyone else", false, "/page", "/chat", "|/page"},
		{"no header", true, "/page", "", "|/page"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, func(c *Config, _ *core.Config) {
				mount(c)
				if tc.trusted {
					c.TrustedProxies = []string{"127.0.0.1"}
				}
			})
			seen = ""
			hdr := map[string]string{}
			if tc.header != "" {
				hdr["X-Script-Name"] = tc.header
			}
			code, _, b := a.raw("GET", tc.path, "", hdr)
			status(t, code, http.StatusNoContent, b)
			if seen != tc.want {
				t.Fatalf("handler saw %q, want %q", seen, tc.want)
			}
		})
	}
	if got := ScriptName(&http.Request{Header: http.Header{"X-Script-Name": {"/x"}}}); got != "" {
		t.Fatalf("ScriptName of a request the Server did not see: %q", got)
	}
}
