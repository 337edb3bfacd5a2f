package httpapi

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
)

// Config configures the REST API. Only Hub is required; the zero value of
// every other field is its default.
type Config struct {
	// Hub is the hub the API drives. Required.
	Hub *core.Hub
	// Secret signs API requests (itsdangerous TimestampSigner). Default "secret".
	Secret string
	// NoSignatureMaxAge accepts tokens of any age (upstream
	// validate_requests = false). Default false: tokens expire after 60 s.
	NoSignatureMaxAge bool
	// ClockSkew is how far in the future a token's timestamp may be (the
	// signer's clock running ahead); beyond it the token is a bad
	// signature (401). Not checked with NoSignatureMaxAge. Default 60 s;
	// negative: none (a timestamp after this second is refused).
	ClockSkew time.Duration
	// AllowPostingFrom lists the addresses and CIDR ranges that may call the
	// API; "0.0.0.0" allows everyone. Default ["127.0.0.1"].
	AllowPostingFrom []string
	// TrustedProxies lists the proxies (addresses or CIDR ranges) whose
	// X-Forwarded-For, X-Script-Name and X-Scheme / X-Url-Scheme /
	// X-Forwarded-Proto are believed; from any other peer these headers
	// are ignored. Default none.
	TrustedProxies []string
	// AllowCORS lists substrings of Origin that get CORS access; empty
	// allows every origin. Default empty.
	AllowCORS []string
	// EnforceHTTPS answers 406 to plain-http requests on every route, the
	// transports included. Default false.
	EnforceHTTPS bool
	// MaxBodyBytes bounds request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// Build is the running binary's version and revision, reported by
	// admin.json, GET /metrics and /openapi.json. Default: version "dev",
	// revision unknown.
	Build Build
	// AdminUser is the admin login name (upstream admin_user).
	// Default "admin".
	AdminUser string
	// AdminSecret is the admin password (upstream admin_secret).
	// Default "admin_secret".
	AdminSecret string
	// CookieSecret keys the HMAC-SHA256 of the admin session cookie
	// (upstream cookie_secret). Default "": New picks a random key, so
	// admin sessions end with the process.
	CookieSecret string
	// SessionLifetime is how long an admin stays signed in (the cookie's
	// Max-Age and the token's expiry). Default 12 h.
	SessionLifetime time.Duration
	// Revocations records the admin sessions signed out until they expire;
	// a cluster's nodes share one so that signing out on one node signs
	// out everywhere. Default: core.NewMemoryRevocations (this node only).
	Revocations core.Revocations
	// HTTPScheme forces the scheme requests are taken to arrive over,
	// "http" or "https" (upstream http_scheme), for generated URLs and the
	// admin cookie's Secure flag (not for EnforceHTTPS). Default "": the
	// request's own scheme (a trusted proxy's X-Scheme, X-Url-Scheme or
	// X-Forwarded-Proto, else TLS or not).
	HTTPScheme string
	// AdminFiles holds the admin page: its index.html is served at
	// GET /admin to signed-in admins. The page loads its script and styles
	// relative to itself from static/admin/, through Static. Default: none
	// (GET /admin answers 404 after sign-in).
	AdminFiles fs.FS
	// TransportCounts reports the connections attached by transport
	// ("websocket", "sse", "longpoll") for admin.json's "transports" key.
	// It is called on every admin.json request and must be safe for
	// concurrent use. Default: none ("transports": {}).
	TransportCounts func() map[string]int
	// Metrics is the Prometheus registry GET /metrics serves (to the
	// addresses of AllowPostingFrom, without signature). New registers on
	// it the hub's counters and gauges (read at scrape time), the attached
	// transports from TransportCounts, WriteLatency, and the Go runtime and
	// process collectors (unless already registered). Default: a registry
	// of the server's own, never Prometheus's global one.
	Metrics *prometheus.Registry
	// WriteLatency is the publish→write latency histogram (NewWriteLatency),
	// fed by the hub's core.Config.ObserveWrite. Default: none (the
	// series is absent).
	WriteLatency prometheus.Histogram
	// SignInDelay is how long a failed admin sign-in waits before the form
	// is shown again. Default 500 ms (upstream); negative: no wait.
	SignInDelay time.Duration
	// SignInFailures is how many failed admin sign-ins one client address
	// (an IPv6 one by its /64) may make per SignInWindow; past it, sign-in
	// answers 429 with Retry-After until the window ends. Default 5;
	// negative: no limit.
	SignInFailures int
	// SignInWindow is the window of SignInFailures, starting at an
	// address's first failure. Default 1 minute.
	SignInWindow time.Duration
	// WebSocket serves GET /ws (outside every API middleware, like
	// upstream). Default: none (404).
	WebSocket http.Handler
	// LongPoll serves GET /listen. Default: none (404).
	LongPoll http.Handler
	// SSE serves GET /sse. Default: none (404).
	SSE http.Handler
	// Static serves GET /static/*filepath with the request path as is.
	// Default: none (404).
	Static http.Handler
	// Mount serves extra pages: each key is a path ("/demo") served with its
	// subtree ("/demo/*") by every method, behind CORS and https enforcement
	// but without API authentication. Their answers carry mountCSP unless
	// they set a Content-Security-Policy of their own. Default: none.
	Mount map[string]http.Handler
	// MountAPI describes the Mount pages in GET /openapi.json: an OpenAPI
	// 3.1 Paths Object (JSON) whose paths are under Mount's keys; it may
	// refer to the document's components. Default: none.
	MountAPI []byte
	// Logger receives request errors. Default: disabled.
	Logger zerolog.Logger
	// Now is the clock for signature ages. Default time.Now.
	Now func() time.Time
}

// Server is the REST API as an http.Handler.
type Server struct {
	cfg      Config
	hub      *core.Hub
	log      zerolog.Logger
	verifier *Verifier
	allow    *AllowList
	clientIP *ClientIP
	cors     *CORS
	sessions *sessions
	router   *httprouter.Router
	signIns  *signInLimiter
	// refusedLog logs refused addresses, at most refusedBurst lines per
	// refusedPeriod: a scanner must not flood the log.
	refusedLog zerolog.Logger
	// metricsHandler serves Config.Metrics in the Prometheus text format.
	metricsHandler http.Handler
	// openAPIDoc is the document GET /openapi.json serves, openAPIJSON
	// its encoding.
	openAPIDoc  map[string]any
	openAPIJSON []byte
}

// New checks cfg, fills its defaults and builds the API handler.
func New(cfg Config) (*Server, error) {
	if cfg.Hub == nil {
		return nil, fmt.Errorf("httpapi: Config.Hub is required")
	}
	if cfg.Secret == "" {
		cfg.Secret = "secret"
	}
	if cfg.AllowPostingFrom == nil {
		cfg.AllowPostingFrom = []string{"127.0.0.1"}
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	cfg.Build = cfg.Build.WithDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AdminUser == "" {
		cfg.AdminUser = "admin"
	}
	if cfg.AdminSecret == "" {
		cfg.AdminSecret = "admin_secret"
	}
	cookieKey := []byte(cfg.CookieSecret)
	if len(cookieKey) == 0 {
		cookieKey = make([]byte, 32)
		_, _ = rand.Read(cookieKey) // crypto/rand.Read never fails
	}
	switch cfg.HTTPScheme {
	case "", "http", "https":
	default:
		return nil, fmt.Errorf("httpapi: http_scheme %q: want http, https or empty", cfg.HTTPScheme)
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 12 * time.Hour
	}
	if cfg.Revocations == nil {
		cfg.Revocations = core.NewMemoryRevocations(cfg.Now)
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.SignInDelay == 0 {
		cfg.SignInDelay = 500 * time.Millisecond
	}
	if cfg.SignInFailures == 0 {
		cfg.SignInFailures = 5
	}
	if cfg.SignInWindow <= 0 {
		cfg.SignInWindow = time.Minute
	}
	allow, err := ParseAllowList(cfg.AllowPostingFrom)
	if err != nil {
		return nil, fmt.Errorf("httpapi: allow_posting_from: %w", err)
	}
	clientIP, err := NewClientIP(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("httpapi: trusted_proxies: %w", err)
	}
	maxAge := 60 * time.Second
	if cfg.NoSignatureMaxAge {
		maxAge = 0
	}
	s := &Server{
		cfg:      cfg,
		hub:      cfg.Hub,
		log:      cfg.Logger,
		verifier: NewVerifier(cfg.Secret, maxAge, cfg.Now).WithClockSkew(cfg.ClockSkew),
		allow:    allow,
		clientIP: clientIP,
		cors:     NewCORS(cfg.AllowCORS),
		sessions: &sessions{key: cookieKey, user: cfg.AdminUser, lifetime: cfg.SessionLifetime,
			now: cfg.Now, revoked: cfg.Revocations},
		signIns:    newSignInLimiter(cfg.SignInFailures, cfg.SignInWindow, cfg.Now),
		refusedLog: cfg.Logger.Sample(&zerolog.BurstSampler{Burst: refusedBurst, Period: refusedPeriod}),
	}
	if s.metricsHandler, err = newMetricsHandler(cfg); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	s.router = s.routes()
	if s.openAPIDoc, err = openAPIDocument(s.Routes(), cfg.MountAPI, cfg.Build); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	if s.openAPIJSON, err = json.Marshal(s.openAPIDoc); err != nil {
		return nil, fmt.Errorf("httpapi: encode /openapi.json: %w", err)
	}
	return s, nil
}

// refusedBurst lines per refusedPeriod at most say that an address was
// refused; the rest of the period's refusals are not logged.
const (
	refusedBurst  = 10
	refusedPeriod = 10 * time.Second
)

// ServeHTTP reads what a trusted proxy says about the request (scheme,
// X-Script-Name), enforces https on every route (/ws included), routes /ws
// straight to the WebSocket handler and everything else through the API
// middleware: CORS, authentication, then the router.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := s.readForwarded(r)
	if s.cfg.EnforceHTTPS && f.scheme != "https" {
		if r.URL.Path != "/ws" {
			s.cors.SetHeaders(w.Header(), r.Header.Get("Origin"))
		}
		writeStatusError(w, http.StatusNotAcceptable, "SSL is required")
		return
	}
	if r.URL.Path == "/ws" {
		if s.cfg.WebSocket == nil {
			http.NotFound(w, r)
			return
		}
		s.cfg.WebSocket.ServeHTTP(w, r)
		return
	}
	stripScriptName(r, f)
	s.cors.SetHeaders(w.Header(), r.Header.Get("Origin"))
	perm, err := s.authenticate(r)
	if err != nil {
		s.log.Debug().Err(err).Str("path", r.URL.Path).Msg("bad signature")
		writeJSON(w, http.StatusUnauthorized, map[string]string{"request": "Bad Signature"})
		return
	}
	// One copy of the request carries both (a long-poll pays it per poll).
	r = r.WithContext(withPermission(withForwarded(r.Context(), f), perm))
	s.router.ServeHTTP(w, r)
}

// mountCSP lets a mounted page (the demo chat) load its own scripts,
// styles, images and data (WebSocket, SSE and fetch to this origin) and
// nothing else; its <base href> must name this origin.
const mountCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'"

// withCSP sets csp on h's answers unless h sets a policy itself.
func withCSP(h http.Handler, csp string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		h.ServeHTTP(w, r)
	})
}

func preflight(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeStatusError(w, http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
}

func (s *Server) panicked(w http.ResponseWriter, r *http.Request, v any) {
	s.log.Error().Interface("panic", v).Str("path", r.URL.Path).Msg("handler panicked")
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
}
