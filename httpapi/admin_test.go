package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// adminPageHTML stands in for web's admin page.
const adminPageHTML = "<!doctype html><title>dashboard</title>"

// newAdminAPI is a server with an admin page, known credentials and no
// sign-in delay; mutate adjusts it further.
func newAdminAPI(t *testing.T, mutate func(*Config)) *apiT {
	t.Helper()
	return newAPI(t, func(c *Config, _ *core.Config) {
		c.AdminUser, c.AdminSecret, c.CookieSecret = "boss", "hunter2", "cookie-key"
		c.SignInDelay = -1
		c.AdminFiles = fstest.MapFS{"index.html": {Data: []byte(adminPageHTML)}}
		if mutate != nil {
			mutate(c)
		}
	})
}

// signIn posts the sign-in form with extra headers and returns the status,
// headers and body.
func (a *apiT) signIn(user, pass string, hdr map[string]string) (int, http.Header, []byte) {
	a.t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range hdr {
		h[k] = v
	}
	form := url.Values{"username": {user}, "password": {pass}}.Encode()
	return a.raw("POST", "/admin/sign_in", form, h)
}

// sessionCookie signs in and returns the auth_tkt cookie set.
func (a *apiT) sessionCookie() *http.Cookie {
	a.t.Helper()
	code, h, b := a.signIn("boss", "hunter2", nil)
	status(a.t, code, http.StatusFound, b)
	c := authCookie(a.t, h)
	if c == nil {
		a.t.Fatalf("sign-in set no auth_tkt cookie: %v", h.Values("Set-Cookie"))
	}
	return c
}

// authCookie parses the auth_tkt Set-Cookie of a response, or nil.
func authCookie(t *testing.T, h http.Header) *http.Cookie {
	t.Helper()
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		if c.Name == "auth_tkt" {
			return c
		}
	}
	return nil
}

// withCookie requests path carrying an auth_tkt cookie of value.
func (a *apiT) withCookie(method, path, value string) (int, http.Header, []byte) {
	a.t.Helper()
	return a.raw(method, path, "", map[string]string{"Cookie": "auth_tkt=" + value})
}

// redirectsToSignIn fails unless the answer sends the browser to sign in,
// with an absolute Location (UPSTREAM.md checklist 111).
func redirectsToSignIn(t *testing.T, what string, code int, h http.Header) {
	t.Helper()
	redirectsTo(t, what, code, h, "/admin/sign_in")
}

// redirectsTo fails unless the answer is a 302 to path on the test server,
// as an absolute URL.
func redirectsTo(t *testing.T, what string, code int, h http.Header, path string) {
	t.Helper()
	if code != http.StatusFound || !regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+`+regexp.QuoteMeta(path)+`$`).MatchString(h.Get("Location")) {
		t.Fatalf("%s: %d Location %q, want 302 to http://127.0.0.1:port%s", what, code, h.Get("Location"), path)
	}
}

func TestAdminRoutesRedirectToSignInWithoutAuth(t *testing.T) {
	a := newAdminAPI(t, nil)
	for _, p := range []string{"/admin", "/admin/admin.json", "/admin/debug", "/api-explorer"} {
		code, h, _ := a.raw("GET", p, "", nil)
		redirectsToSignIn(t, p, code, h) // 111
	}
	code, h, _ := a.raw("POST", "/admin/admin.json", "", nil)
	redirectsToSignIn(t, "POST admin.json", code, h)

	t.Run("an unknown admin path is 404 (111)", func(t *testing.T) {
		for _, p := range []string{"/admin/nope", "/admin/", "/admin/sign_in/x"} {
			code, _, b := a.raw("GET", p, "", nil)
			status(t, code, http.StatusNotFound, b)
		}
	})
	t.Run("behind a trusted proxy's prefix", func(t *testing.T) {
		proxied := newAdminAPI(t, func(c *Config) { c.TrustedProxies = []string{"127.0.0.1"} })
		code, h, _ := proxied.raw("GET", "/prefix/admin", "", map[string]string{"X-Script-Name": "/prefix"})
		redirectsTo(t, "prefixed", code, h, "/prefix/admin/sign_in")
		code, h, _ = proxied.raw("GET", "/admin", "", map[string]string{"X-Script-Name": "//evil.example"})
		redirectsToSignIn(t, "bad prefix ignored", code, h)
		code, h, _ = proxied.raw("GET", "/admin", "", map[string]string{"X-Forwarded-Proto": "https"})
		if code != http.StatusFound || !strings.HasPrefix(h.Get("Location"), "https://127.0.0.1:") {
			t.Fatalf("behind an https proxy: %d Location %q", code, h.Get("Location"))
		}
	})
	t.Run("a prefix from anyone else is ignored", func(t *testing.T) {
		code, h, _ := a.raw("GET", "/admin", "", map[string]string{"X-Script-Name": "/prefix"})
		redirectsToSignIn(t, "untrusted prefix", code, h)
	})
	t.Run("other paths stay plain 404s", func(t *testing.T) {
		code, _, b := a.raw("GET", "/administrator", "", nil)
		status(t, code, http.StatusNotFound, b)
	})
}

func TestSignInPageIsAForm(t *testing.T) {
	a := newAdminAPI(t, nil)
	code, h, b := a.raw("GET", "/admin/sign_in", "", nil)
	status(t, code, http.StatusOK, b) // the docker health check
	page := string(b)
	for _, want := range []string{`<form method="post" action="sign_in">`, `name="username"`, `name="password"`, `type="password"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("sign-in page lacks %s:\n%s", want, page)
		}
	}
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || strings.Contains(page, `class="error"`) {
		t.Fatalf("Content-Type %q, page %s", h.Get("Content-Type"), page)
	}
	t.Run("its CSP allows exactly its inline style", func(t *testing.T) {
		style := regexp.MustCompile(`(?s)<style>(.*)</style>`).FindStringSubmatch(page)
		sum := sha256.Sum256([]byte(style[1]))
		want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, want) || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("CSP %q lacks %q", csp, want)
		}
	})
	code, _, _ = a.raw("HEAD", "/admin/sign_in", "", nil)
	status(t, code, http.StatusOK, nil)
}

func TestSignInSetsTheSessionCookie(t *testing.T) {
	a := newAdminAPI(t, nil)
	code, h, _ := a.signIn("  boss ", "\thunter2\n", nil) // fields are stripped, as upstream
	redirectsTo(t, "sign-in", code, h, "/admin")          // 113
	c := authCookie(t, h)
	if c == nil {
		t.Fatalf("no auth_tkt cookie: %v", h.Values("Set-Cookie"))
	}
	line := h.Get("Set-Cookie")
	for _, want := range []string{"Path=/", "Max-Age=43200", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(line, want) {
			t.Fatalf("Set-Cookie %q lacks %s", line, want)
		}
	}
	if c.Secure {
		t.Fatalf("Set-Cookie %q is Secure over plain http", line)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+\.[0-9]+\.[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$`).MatchString(c.Value) {
		t.Fatalf("cookie value %q is not user.expiry.id.hmac", c.Value)
	}

	t.Run("the cookie opens every admin route", func(t *testing.T) {
		code, h, b := a.withCookie("GET", "/admin", c.Value)
		status(t, code, http.StatusOK, b)
		if string(b) != adminPageHTML || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("admin page %q: %s", h.Get("Content-Type"), b)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Fatalf("admin page CSP %q", csp)
		}
		code, _, b = a.withCookie("GET", "/admin/admin.json", c.Value)
		status(t, code, http.StatusOK, b)
		code, _, b = a.withCookie("POST", "/admin/admin.json", c.Value)
		status(t, code, http.StatusOK, b)
		code, _, b = a.withCookie("GET", "/admin/debug", c.Value)
		status(t, code, http.StatusOK, b)
	})
	t.Run("unknown admin routes are 404 after auth", func(t *testing.T) {
		for _, p := range []string{"/admin/nope", "/api-explorer", "/admin/"} {
			code, _, b := a.withCookie("GET", p, c.Value)
			status(t, code, http.StatusNotFound, b)
		}
	})
	t.Run("the cookie is no API key", func(t *testing.T) {
		code, _, b := a.withCookie("POST", "/info", c.Value)
		status(t, code, http.StatusForbidden, b)
	})
}

func TestSignInCookieIsSecureOverHTTPS(t *testing.T) {
	cases := []struct {
		name    string
		scheme  string // Config.HTTPScheme
		header  string // X-Scheme
		trusted bool   // the test client is a trusted proxy
		secure  bool
	}{
		{"X-Scheme https from a trusted proxy", "", "https", true, true},
		{"X-Scheme https from anyone else", "", "https", false, false},
		{"X-Scheme http", "", "http", true, false},
		{"http_scheme https", "https", "", false, true},
		{"http_scheme http beats X-Scheme", "http", "https", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdminAPI(t, func(c *Config) {
				c.HTTPScheme = tc.scheme
				if tc.trusted {
					c.TrustedProxies = []string{"127.0.0.1"}
				}
			})
			hdr := map[string]string{}
			if tc.header != "" {
				hdr["X-Scheme"] = tc.header
			}
			_, h, _ := a.signIn("boss", "hunter2", hdr)
			if c := authCookie(t, h); c == nil || c.Secure != tc.secure {
				t.Fatalf("Set-Cookie %q, want Secure=%v", h.Get("Set-Cookie"), tc.secure)
			}
			hdr["Sec-Fetch-Site"] = "same-origin"
			_, h, _ = a.raw("POST", "/admin/sign_out", "", hdr)
			if c := authCookie(t, h); c == nil || c.Secure != tc.secure {
				t.Fatalf("sign-out Set-Cookie %q, want Secure=%v", h.Get("Set-Cookie"), tc.secure)
			}
		})
	}
	t.Run("a bad http_scheme is refused", func(t *testing.T) {
		if _, err := New(Config{Hub: core.New(core.Config{}), HTTPScheme: "ftp"}); err == nil {
			t.Fatal("New accepted http_scheme ftp")
		}
	})
}

func TestSignInWithWrongCredentialsShowsTheFormAgain(t *testing.T) {
	a := newAdminAPI(t, nil)
	for _, tc := range []struct{ name, user, pass, form string }{
		{"wrong password", "boss", "hunter3", ""},
		{"wrong user", "bos", "hunter2", ""},
		{"swapped", "hunter2", "boss", ""},
		{"empty", "", "", ""},
		{"no form", "", "", "%zz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				code int
				h    http.Header
				b    []byte
			)
			if tc.form != "" {
				code, h, b = a.raw("POST", "/admin/sign_in", tc.form, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			} else {
				code, h, b = a.signIn(tc.user, tc.pass, nil)
			}
			status(t, code, http.StatusOK, b) // 113
			if c := authCookie(t, h); c != nil {
				t.Fatalf("refused sign-in set a cookie: %v", c)
			}
			if !strings.Contains(string(b), `class="error"`) || !strings.Contains(string(b), `name="password"`) {
				t.Fatalf("no form with an error: %s", b)
			}
		})
	}
	t.Run("the username is escaped", func(t *testing.T) {
		_, _, b := a.signIn(`"><script>x()</script>`, "no", nil)
		if strings.Contains(string(b), "<script>x()") {
			t.Fatalf("username not escaped: %s", b)
		}
	})
}

func TestSignInRefusalWaitsHalfASecond(t *testing.T) {
	a := newAPI(t, nil) // default delay and credentials
	start := time.Now()
	code, h, b := a.raw("POST", "/admin/sign_in", "username=admin&password=nope",
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Fatalf("refusal took %v, want at least 0.5 s (113)", took)
	}
	status(t, code, http.StatusOK, b)
	if authCookie(t, h) != nil {
		t.Fatal("refused sign-in set a cookie")
	}
	start = time.Now()
	code, _, b = a.raw("POST", "/admin/sign_in", "username=admin&password=admin_secret",
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	status(t, code, http.StatusFound, b) // upstream's default credentials
	if took := time.Since(start); took > 400*time.Millisecond {
		t.Fatalf("a right sign-in took %v", took)
	}
}

func TestSignOutExpiresAndRevokesTheSession(t *testing.T) {
	a := newAdminAPI(t, nil)
	c := a.sessionCookie()
	t.Run("GET shows a form and signs nobody out", func(t *testing.T) {
		code, h, b := a.withCookie("GET", "/admin/sign_out", c.Value)
		status(t, code, http.StatusOK, b)
		if !strings.Contains(string(b), `<form method="post" action="sign_out">`) || authCookie(t, h) != nil ||
			!strings.Contains(h.Get("Content-Security-Policy"), "form-action 'self'") {
			t.Fatalf("GET sign_out: %v %s", h, b)
		}
		code, _, b = a.withCookie("GET", "/admin/admin.json", c.Value)
		status(t, code, http.StatusOK, b)
	})
	t.Run("a POST from another site is refused", func(t *testing.T) {
		for _, hdr := range []map[string]string{
			{"Sec-Fetch-Site": "cross-site"},
			{"Origin": "http://evil.example"},
			{},
		} {
			hdr["Cookie"] = "auth_tkt=" + c.Value
			code, h, b := a.raw("POST", "/admin/sign_out", "", hdr)
			status(t, code, http.StatusForbidden, b)
			if authCookie(t, h) != nil {
				t.Fatalf("refused sign-out touched the cookie: %v", h)
			}
		}
		code, _, b := a.withCookie("GET", "/admin/admin.json", c.Value)
		status(t, code, http.StatusOK, b)
	})
	copied := c.Value
	t.Run("a POST from the page signs out", func(t *testing.T) {
		code, h, b := a.raw("POST", "/admin/sign_out", "", map[string]string{"Cookie": "auth_tkt=" + c.Value, "Origin": a.srv.URL})
		redirectsToSignIn(t, "sign-out", code, h) // 114, as a POST
		_ = b
		out := authCookie(t, h)
		if out == nil || out.Value != "" || out.MaxAge >= 0 || out.Path != "/" || !out.Expires.Before(time.Now()) {
			t.Fatalf("sign-out Set-Cookie %q does not expire auth_tkt", h.Get("Set-Cookie"))
		}
		if line := h.Get("Set-Cookie"); !strings.Contains(line, "Max-Age=0") || !strings.Contains(line, "HttpOnly") {
			t.Fatalf("sign-out Set-Cookie %q", line)
		}
	})
	t.Run("a copy of the signed-out cookie is refused", func(t *testing.T) {
		code, h, _ := a.withCookie("GET", "/admin/admin.json", copied)
		redirectsToSignIn(t, "revoked cookie", code, h)
	})
	t.Run("another session stays signed in", func(t *testing.T) {
		other := a.sessionCookie()
		code, _, b := a.withCookie("GET", "/admin/admin.json", other.Value)
		status(t, code, http.StatusOK, b)
	})
}

// TestSignOutRevokesOnEveryNode: two servers sharing one revocation store
// and cookie_secret (a cluster): a session signed out on one is refused by
// the other.
func TestSignOutRevokesOnEveryNode(t *testing.T) {
	shared := core.NewMemoryRevocations(nil)
	a := newAdminAPI(t, func(c *Config) { c.Revocations = shared })
	b := newAdminAPI(t, func(c *Config) { c.Revocations = shared })
	c := a.sessionCookie()
	code, _, body := b.withCookie("GET", "/admin/admin.json", c.Value)
	status(t, code, http.StatusOK, body)
	code, _, body = a.raw("POST", "/admin/sign_out", "", map[string]string{"Cookie": "auth_tkt=" + c.Value, "Sec-Fetch-Site": "same-origin"})
	status(t, code, http.StatusFound, body)
	code, h, _ := b.withCookie("GET", "/admin/admin.json", c.Value)
	redirectsToSignIn(t, "signed out on the other node", code, h)
}

func TestAdminSessionLifetime(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	a := newAdminAPI(t, func(c *Config) { c.Now, c.SessionLifetime = clock, 2*time.Hour })
	code, h, _ := a.signIn("boss", "hunter2", nil)
	status(t, code, http.StatusFound, nil)
	if line := h.Get("Set-Cookie"); !strings.Contains(line, "Max-Age=7200") {
		t.Fatalf("Set-Cookie %q, want Max-Age=7200", line)
	}
	c := authCookie(t, h)
	now.Add(7199)
	code, _, b := a.withCookie("GET", "/admin/admin.json", c.Value)
	status(t, code, http.StatusOK, b)
	now.Add(1)
	code, h, _ = a.withCookie("GET", "/admin/admin.json", c.Value)
	redirectsToSignIn(t, "after the lifetime", code, h)
}

func TestAdminRefusesBadCookies(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	a := newAdminAPI(t, func(c *Config) { c.Now = clock })
	good := a.sessionCookie().Value
	user, expiry, sig := splitToken(t, good)

	refused := func(t *testing.T, value string) {
		t.Helper()
		code, h, _ := a.withCookie("GET", "/admin/admin.json", value)
		redirectsToSignIn(t, "cookie "+value, code, h)
	}
	accepted := func(t *testing.T, value string) {
		t.Helper()
		code, _, b := a.withCookie("GET", "/admin/admin.json", value)
		status(t, code, http.StatusOK, b)
	}
	accepted(t, good)

	t.Run("tampered", func(t *testing.T) {
		flipped := []byte(sig)
		flipped[3] ^= 1
		refused(t, user+"."+expiry+"."+string(flipped))
		refused(t, user+"."+expiry+"9."+sig)                                                 // later expiry
		refused(t, base64.RawURLEncoding.EncodeToString([]byte("bossy"))+"."+expiry+"."+sig) // other user
		refused(t, user+"."+expiry+".")
		for _, junk := range []string{"", "x", "a.b", "a.b.c.d", good + "x", strings.ToUpper(good)} {
			refused(t, junk)
		}
	})
	t.Run("expired", func(t *testing.T) {
		now.Add(int64(12*time.Hour/time.Second) - 1)
		accepted(t, good)
		now.Add(1)
		refused(t, good)
	})
	t.Run("from another cookie_secret", func(t *testing.T) {
		other := newAdminAPI(t, func(c *Config) { c.CookieSecret = "another-key" })
		code, h, _ := other.withCookie("GET", "/admin", other.sessionCookie().Value)
		status(t, code, http.StatusOK, nil)
		foreign := other.sessionCookie().Value
		code, h, _ = newAdminAPI(t, nil).withCookie("GET", "/admin", foreign)
		redirectsToSignIn(t, "foreign cookie", code, h)
	})
	t.Run("for another admin_user", func(t *testing.T) {
		renamed := newAdminAPI(t, func(c *Config) { c.AdminUser = "chief" })
		code, h, _ := renamed.withCookie("GET", "/admin", newAdminAPI(t, nil).sessionCookie().Value)
		redirectsToSignIn(t, "cookie of the old admin user", code, h)
	})
	t.Run("an empty cookie_secret is random per server", func(t *testing.T) {
		first := newAdminAPI(t, func(c *Config) { c.CookieSecret = "" })
		second := newAdminAPI(t, func(c *Config) { c.CookieSecret = "" })
		code, h, _ := second.withCookie("GET", "/admin", first.sessionCookie().Value)
		redirectsToSignIn(t, "cookie of another start", code, h) // 123
	})
}

// splitToken splits a session token into its three parts.
func splitToken(t *testing.T, token string) (user, expiry, sig string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 4 {
		t.Fatalf("token %q has %d parts", token, len(parts))
	}
	return parts[0], parts[1] + "." + parts[2], parts[3]
}

func TestAdminAcceptsTheAPIKey(t *testing.T) {
	a := newAdminAPI(t, nil)
	signed := map[string]string{"X-Channelstream-Secret": a.token()}
	for p, want := range map[string]int{"/admin": 200, "/admin/admin.json": 200, "/admin/debug": 200, "/admin/nope": 404, "/api-explorer": 404} {
		code, _, b := a.raw("GET", p, "", signed)
		status(t, code, want, b) // 115
	}
	code, _, b := a.raw("GET", "/admin/admin.json?secret="+url.QueryEscape(a.token()), "", nil)
	status(t, code, http.StatusOK, b)

	t.Run("a bad signature is 401", func(t *testing.T) {
		code, _, b := a.raw("GET", "/admin/admin.json", "", map[string]string{"X-Channelstream-Secret": "x.y.z"})
		status(t, code, http.StatusUnauthorized, b)
	})
	t.Run("not from a disallowed address", func(t *testing.T) {
		far := newAdminAPI(t, func(c *Config) { c.AllowPostingFrom = []string{"10.9.8.7"} })
		code, h, _ := far.raw("GET", "/admin/admin.json", "", map[string]string{"X-Channelstream-Secret": far.token()})
		redirectsToSignIn(t, "signed from a disallowed address", code, h)
		code, _, b := far.withCookie("GET", "/admin/admin.json", far.sessionCookie().Value)
		status(t, code, http.StatusOK, b) // the cookie works from anywhere, as upstream
	})
}

func TestAdminJSONReportsTransports(t *testing.T) {
	counts := map[string]int{"websocket": 3, "sse": 2, "longpoll": 1}
	a := newAdminAPI(t, func(c *Config) { c.TransportCounts = func() map[string]int { return counts } })
	a.connect("u", "c")
	code, b := a.call("GET", "/admin/admin.json", nil)
	status(t, code, http.StatusOK, b)
	var v struct {
		Transports      map[string]int `json:"transports"`
		TotalConnection int            `json:"total_connections"`
	}
	if err := json.Unmarshal(b, &v); err != nil || len(v.Transports) != 3 || v.Transports["sse"] != 2 || v.TotalConnection != 1 {
		t.Fatalf("admin.json %s", b)
	}

	t.Run("without a source the key is an empty object", func(t *testing.T) {
		plain := newAdminAPI(t, nil)
		code, b := plain.call("GET", "/admin/admin.json", nil)
		status(t, code, http.StatusOK, b)
		if !strings.Contains(string(b), `"transports":{}`) {
			t.Fatalf("admin.json %s", b)
		}
	})
	t.Run("no admin page configured is a 404 after auth", func(t *testing.T) {
		bare := newAdminAPI(t, func(c *Config) { c.AdminFiles = nil })
		code, _, b := bare.raw("GET", "/admin", "", map[string]string{"X-Channelstream-Secret": bare.token()})
		status(t, code, http.StatusNotFound, b)
	})
}
