package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/channelstream-go/channelstream-go/core"
)

// adminPageCSP lets the admin page load its own scripts, styles and data
// and nothing else.
const adminPageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// admin lets a request through when it carries a valid admin session
// cookie or passed API authentication (IP and signature), as upstream's
// AdminAuthFactory; everyone else is sent to the sign-in page.
func (s *Server) admin(h httprouter.Handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if !hasPermission(r.Context()) {
			if _, err := s.sessions.fromRequest(r); err != nil {
				if !errors.Is(err, http.ErrNoCookie) {
					s.log.Debug().Err(err).Str("path", r.URL.Path).Msg("admin session refused")
				}
				http.Redirect(w, r, s.url(r, "/admin/sign_in"), http.StatusFound)
				return
			}
		}
		h(w, r, ps)
	}
}

// unrouted answers 404. Upstream's API explorer (any path containing
// "api-explorer") is an admin page: it needs admin auth before its 404,
// like upstream's redirect to the sign-in page. An unknown /admin/<x> is a
// plain 404 (UPSTREAM.md checklist 111).
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "api-explorer") {
		s.admin(func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) { notFound(w, r) })(w, r, nil)
		return
	}
	notFound(w, r)
}

// signInPage serves the sign-in form.
func (s *Server) signInPage(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	writeSignIn(w, "", "")
}

// signIn checks the form's username and password. Right: a session cookie
// and 302 to /admin. Wrong: the form again after SignInDelay. Every attempt
// is admitted and counted before its body is read; an address with too many
// recent attempts that did not succeed (SignInFailures per SignInWindow)
// gets 429 and Retry-After, and its credentials are not checked.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	ip, _ := s.clientIP.FromRequest(r) // an unknown client is counted under the invalid address
	wait, last := s.signIns.admit(ip)
	if wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeSignInStatus(w, http.StatusTooManyRequests, "",
			fmt.Sprintf("Too many failed sign-ins from your address. Try again in %d seconds.", secs))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	_ = r.ParseForm() // a malformed form is wrong credentials
	user := strings.TrimSpace(r.PostForm.Get("username"))
	pass := strings.TrimSpace(r.PostForm.Get("password"))
	if s.credentialsMatch(user, pass) {
		s.signIns.succeed(ip)
		s.log.Info().Str("ip", ip.String()).Str("user", s.cfg.AdminUser).Msg("admin signed in")
		http.SetCookie(w, sessionCookieFor(s.sessions.issue(s.cfg.AdminUser), s.cfg.SessionLifetime, s.scheme(r) == "https"))
		http.Redirect(w, r, s.url(r, "/admin"), http.StatusFound)
		return
	}
	s.refusedLog.Warn().Str("ip", ip.String()).Msg("admin sign-in refused")
	if last {
		s.refusedLog.Warn().Str("ip", ip.String()).Dur("for", s.cfg.SignInWindow).Msg("admin sign-in blocked for this address: too many failures")
	}
	if d := s.cfg.SignInDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	writeSignIn(w, user, "Wrong username or password.")
}

// credentialsMatch compares both fields with the configuration in constant
// time: the digests are compared so that lengths do not leak either, and
// both comparisons always run.
func (s *Server) credentialsMatch(user, pass string) bool {
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	wantU, wantP := sha256.Sum256([]byte(s.cfg.AdminUser)), sha256.Sum256([]byte(s.cfg.AdminSecret))
	return subtle.ConstantTimeCompare(u[:], wantU[:])&subtle.ConstantTimeCompare(p[:], wantP[:]) == 1
}

// signOutPage serves a form that posts the sign-out (GET must not sign
// out: a cross-site link or image could).
func (s *Server) signOutPage(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	writeSignOut(w, http.StatusOK, "")
}

// signOut revokes the request's admin session (on every node sharing
// Config.Revocations), expires the cookie and sends the browser to sign
// in. It must come from a page of this server (sameOrigin): 403 otherwise,
// and nothing is revoked.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if err := sameOrigin(r); err != nil {
		s.log.Debug().Err(err).Msg("admin sign-out refused")
		writeSignOut(w, http.StatusForbidden, "Sign-out refused: "+err.Error()+". Use the button below.")
		return
	}
	ip, _ := s.clientIP.FromRequest(r)
	if sess, err := s.sessions.fromRequest(r); err == nil {
		if err := s.sessions.revoked.Revoke(r.Context(), sess.id, sess.expiry); err != nil {
			s.log.Error().Err(err).Str("ip", ip.String()).Msg("admin sign-out could not be recorded")
			http.SetCookie(w, sessionCookieFor("", 0, s.scheme(r) == "https"))
			writeSignOut(w, http.StatusServiceUnavailable, "The sign-out could not be recorded on every node; try again.")
			return
		}
		s.log.Info().Str("ip", ip.String()).Str("user", s.cfg.AdminUser).Msg("admin signed out")
	}
	http.SetCookie(w, sessionCookieFor("", 0, s.scheme(r) == "https"))
	http.Redirect(w, r, s.url(r, "/admin/sign_in"), http.StatusFound)
}

// sameOrigin is the CSRF check of a state-changing admin form: the browser
// says the request comes from this origin (Sec-Fetch-Site: same-origin),
// or, from a browser that does not send Sec-Fetch-Site, its Origin names
// this Host. A request with neither is refused. The session cookie is
// SameSite=Strict as well.
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		if site != "same-origin" {
			return fmt.Errorf("the request came from another site (Sec-Fetch-Site %q)", site)
		}
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return errors.New("the request names no origin (no Origin or Sec-Fetch-Site header)")
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host {
		return fmt.Errorf("the request came from another origin (%q)", origin)
	}
	return nil
}

// adminPage serves index.html of Config.AdminFiles.
func (s *Server) adminPage(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.serveAdminFile(w, r, "index.html")
}

// serveAdminFile serves the page name of Config.AdminFiles with the admin
// pages' headers (CSP, no caching); 404 when there is none.
func (s *Server) serveAdminFile(w http.ResponseWriter, r *http.Request, name string) {
	if s.cfg.AdminFiles == nil {
		notFound(w, r)
		return
	}
	b, err := fs.ReadFile(s.cfg.AdminFiles, name)
	if err != nil {
		s.log.Error().Err(err).Str("page", name).Msg("read an admin page")
		notFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", adminPageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// adminJSON serves upstream's admin.json plus "transports": the
// connections attached by transport.
func (s *Server) adminJSON(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	transports := map[string]int{}
	if s.cfg.TransportCounts != nil {
		transports = s.cfg.TransportCounts()
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, struct {
		core.AdminInfo
		Version    string         `json:"version"`
		Transports map[string]int `json:"transports"`
	}{s.hub.Admin(r.Context()), s.cfg.Build.String(), transports})
}

// adminDebug dumps the running goroutines as plain text (upstream dumps its
// greenlets here).
func adminDebug(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_ = pprof.Lookup("goroutine").WriteTo(w, 1)
}
