package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
)

func TestAPIExplorerPage(t *testing.T) {
	a := newAdminAPI(t, func(c *Config) {
		c.AdminFiles.(fstest.MapFS)["explorer.html"] = &fstest.MapFile{Data: []byte("<!doctype html><title>explorer</title>")}
	})
	t.Run("without a session to the sign-in page", func(t *testing.T) {
		code, h, b := a.raw("GET", "/api-explorer", "", nil)
		status(t, code, http.StatusFound, b)
		if loc := h.Get("Location"); !strings.HasSuffix(loc, "/admin/sign_in") {
			t.Fatalf("Location %q", loc)
		}
	})
	t.Run("an admin session gets the page under the admin CSP", func(t *testing.T) {
		c := a.sessionCookie()
		code, h, b := a.raw("GET", "/api-explorer", "", map[string]string{"Cookie": c.Name + "=" + c.Value})
		status(t, code, http.StatusOK, b)
		if !strings.Contains(string(b), "<title>explorer</title>") || h.Get("Content-Security-Policy") != adminPageCSP {
			t.Fatalf("page %q, CSP %q", b, h.Get("Content-Security-Policy"))
		}
	})
	t.Run("a signature gets the page too", func(t *testing.T) {
		code, _, b := a.raw("GET", "/api-explorer", "", map[string]string{"X-Channelstream-Secret": a.token()})
		status(t, code, http.StatusOK, b)
	})
}

func TestAPIExplorerToken(t *testing.T) {
	a := newAdminAPI(t, nil)
	c := a.sessionCookie()
	session := "auth_tkt=" + c.Value
	host := strings.TrimPrefix(a.srv.URL, "http://")
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"a same-origin fetch of an admin session gets one", map[string]string{"Cookie": session, "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"an Origin of this host counts as same-origin", map[string]string{"Cookie": session, "Origin": "http://" + host}, http.StatusOK},
		{"a cross-site fetch is refused", map[string]string{"Cookie": session, "Sec-Fetch-Site": "cross-site", "Origin": "http://" + host}, http.StatusForbidden},
		{"another Origin is refused", map[string]string{"Cookie": session, "Origin": "http://evil.example"}, http.StatusForbidden},
		{"neither Origin nor Sec-Fetch-Site is refused", map[string]string{"Cookie": session}, http.StatusForbidden},
		{"no session is refused", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusForbidden},
		{"a signature is no session", map[string]string{"X-Channelstream-Secret": a.token(), "Sec-Fetch-Site": "same-origin"}, http.StatusForbidden},
		{"a forged session is refused", map[string]string{"Cookie": "auth_tkt=Ym9zcw.99999999999.AAAA", "Sec-Fetch-Site": "same-origin"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h, b := a.raw("POST", "/api-explorer/token", "", tc.hdr)
			status(t, code, tc.want, b)
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("body %q: %v", b, err)
			}
			if code != http.StatusOK {
				if v["error"] == nil {
					t.Fatalf("refusal without an error: %s", b)
				}
				return
			}
			if h.Get("Cache-Control") != "no-store" || v["header"] != "x-channelstream-secret" || v["expires_in"] != float64(60) {
				t.Fatalf("answer %s, Cache-Control %q", b, h.Get("Cache-Control"))
			}
			// The token signs API calls.
			tok, _ := v["token"].(string)
			code, _, b = a.raw("POST", "/info", "", map[string]string{"X-Channelstream-Secret": tok})
			status(t, code, http.StatusOK, b)
		})
	}
}
