package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCORSSetHeaders(t *testing.T) {
	tests := []struct {
		name       string
		allow      []string
		origin     string
		wantOrigin bool
		wantVary   bool
	}{
		{"empty list allows any origin", nil, "http://evil.net", true, false},
		{"empty list allows a missing origin", nil, "", true, false},
		{"blank entries count as empty", []string{" ", ""}, "http://evil.net", true, false},
		{"substring entry allows subdomain", []string{"example.com"}, "http://sub.example.com", true, true},
		{"second entry allows", []string{"foo.org", "example.com"}, "https://example.com:8443", true, true},
		{"trimmed entry allows", []string{" example.com "}, "http://example.com", true, true},
		{"non-matching origin gets no allow-origin", []string{"example.com"}, "http://evil.net", false, true},
		{"missing origin gets no allow-origin", []string{"example.com"}, "", false, true},
		{"match is case-sensitive", []string{"example.com"}, "http://EXAMPLE.COM", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			NewCORS(tt.allow).SetHeaders(h, tt.origin)
			if got, want := h.Get("Access-Control-Allow-Origin"), map[bool]string{true: "*"}[tt.wantOrigin]; got != want {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, want)
			}
			if got, want := h.Get("Vary"), map[bool]string{true: "Origin"}[tt.wantVary]; got != want {
				t.Errorf("Vary = %q, want %q", got, want)
			}
			assertFixedCORSHeaders(t, h)
		})
	}
}

func assertFixedCORSHeaders(t *testing.T, h http.Header) {
	t.Helper()
	want := map[string]string{
		"XDomainRequestAllowed":        "1",
		"Access-Control-Allow-Methods": "GET, POST, OPTIONS, PUT, DELETE, PATCH",
		"Access-Control-Allow-Headers": "Content-Type, Depth, User-Agent, X-File-Size, X-Requested-With, If-Modified-Since, X-File-Name, Cache-Control, Pragma, Origin, Connection, Referer, Cookie, X-Channelstream-Secret, Last-Event-ID",
		"Access-Control-Max-Age":       "86400",
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
}

func TestCORSSetHeadersTwiceDoesNotRepeat(t *testing.T) {
	h := http.Header{}
	h.Add("Vary", "Accept-Encoding")
	c := NewCORS([]string{"example.com"})
	c.SetHeaders(h, "http://example.com")
	c.SetHeaders(h, "http://example.com")
	if got := h.Values("Vary"); len(got) != 2 || got[1] != "Origin" {
		t.Errorf("Vary = %q, want [Accept-Encoding Origin]", got)
	}
	if got := h.Values("Access-Control-Allow-Origin"); len(got) != 1 {
		t.Errorf("Access-Control-Allow-Origin = %q, want one value", got)
	}
	assertFixedCORSHeaders(t, h)
}

func TestCORSHeadersOnErrorResponse(t *testing.T) {
	c := NewCORS(nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.SetHeaders(w.Header(), r.Header.Get("Origin"))
		http.Error(w, `{"request": "Bad Signature"}`, http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/connect", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "http://app.example")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
	}
	assertFixedCORSHeaders(t, resp.Header)
}
