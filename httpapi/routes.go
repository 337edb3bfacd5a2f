package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/channelstream-go/channelstream-go/core"
)

// Route is one method and path the server answers, the path in OpenAPI's
// syntax ("/static/{filepath}"; a {name} at the end of a path stands for
// the rest of the path).
type Route struct {
	Method string
	Path   string
	// AsGET reports that Method answers as GET on Path does (HEAD, and
	// the routes that take any method, as upstream's): the document
	// describes it with a copy of the GET operation.
	AsGET bool
}

// route is one row of the routing table: routes registers it on the
// router, Routes lists it and /openapi.json documents it.
type route struct {
	methods []string
	path    string // httprouter syntax: "/static/*filepath"
	handle  httprouter.Handle
	// direct marks /ws: ServeHTTP hands it to Config.WebSocket before any
	// middleware, so the router never sees it.
	direct bool
}

var anyMethod = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead}

// table is every route the server serves itself, Config.Mount aside. A
// route whose handler is not configured (Config.LongPoll and the like) is
// left out.
func (s *Server) table() []route {
	api := s.protected
	h := s.hub
	one := func(m string) []string { return []string{m} }
	rows := []route{
		{methods: one(http.MethodPost), path: "/connect", handle: api(endpoint(s, bodyOnly(decodeConnect), h.Connect))},
		{methods: one(http.MethodPost), path: "/subscribe", handle: api(endpoint(s, s.subscription(decodeSubscribe), h.Subscribe))},
		{methods: one(http.MethodPost), path: "/unsubscribe", handle: api(endpoint(s, s.subscription(decodeUnsubscribe), h.Unsubscribe))},
		{methods: one(http.MethodPost), path: "/user_state", handle: api(endpoint(s, s.userState, h.SetUserState))},
		{methods: one(http.MethodPost), path: "/message", handle: api(s.messages(core.KindSend))},
		{methods: one(http.MethodPatch), path: "/message", handle: api(s.messages(core.KindEdit))},
		{methods: one(http.MethodDelete), path: "/message", handle: api(s.messages(core.KindDelete))},
		{methods: one(http.MethodPost), path: "/channel_config", handle: api(endpoint(s, bodyOnly(decodeChannelConfig), h.ConfigureChannels))},
		{methods: anyMethod, path: "/info", handle: api(endpoint(s, bodyOnly(decodeInfo), h.Describe))},
		{methods: anyMethod, path: "/disconnect", handle: s.disconnect},
		{methods: anyMethod, path: "/admin/admin.json", handle: s.admin(s.adminJSON)},
		{methods: one(http.MethodGet), path: "/admin", handle: s.admin(s.adminPage)},
		{methods: one(http.MethodGet), path: "/admin/debug", handle: s.admin(adminDebug)},
		{methods: one(http.MethodGet), path: "/api-explorer", handle: s.admin(s.explorerPage)},
		{methods: one(http.MethodPost), path: "/api-explorer/token", handle: s.explorerToken},
		{methods: []string{http.MethodGet, http.MethodHead}, path: "/admin/sign_in", handle: s.signInPage},
		{methods: one(http.MethodPost), path: "/admin/sign_in", handle: s.signIn},
		{methods: []string{http.MethodGet, http.MethodHead}, path: "/admin/sign_out", handle: s.signOutPage},
		{methods: one(http.MethodPost), path: "/admin/sign_out", handle: s.signOut},
		{methods: one(http.MethodGet), path: "/healthz", handle: s.healthz},
		{methods: one(http.MethodGet), path: "/readyz", handle: s.readyz},
		{methods: one(http.MethodGet), path: "/metrics", handle: s.metrics},
		{methods: one(http.MethodGet), path: "/openapi.json", handle: s.openAPI},
		{methods: one(http.MethodOptions), path: "/*path", handle: preflight},
	}
	handler := func(methods []string, path string, hh http.Handler, direct bool) {
		if hh != nil {
			rows = append(rows, route{methods: methods, path: path, direct: direct,
				handle: func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) { hh.ServeHTTP(w, r) }})
		}
	}
	handler(one(http.MethodGet), "/ws", s.cfg.WebSocket, true)
	handler(one(http.MethodGet), "/listen", s.cfg.LongPoll, false)
	handler(one(http.MethodGet), "/sse", s.cfg.SSE, false)
	handler(one(http.MethodGet), "/static/*filepath", s.cfg.Static, false)
	return rows
}

// routes builds the router from table and Config.Mount.
func (s *Server) routes() *httprouter.Router {
	rt := httprouter.New()
	rt.RedirectTrailingSlash = false
	rt.RedirectFixedPath = false
	rt.HandleMethodNotAllowed = false // upstream answers a wrong method with 404
	rt.HandleOPTIONS = false
	rt.NotFound = http.HandlerFunc(s.unrouted)
	rt.PanicHandler = s.panicked
	for _, row := range s.table() {
		if row.direct {
			continue
		}
		for _, m := range row.methods {
			rt.Handle(m, row.path, row.handle)
		}
	}
	for path, h := range s.cfg.Mount {
		h := withCSP(h, mountCSP)
		for _, m := range anyMethod {
			rt.Handler(m, path, h)
			rt.Handler(m, path+"/*rest", h)
		}
	}
	return rt
}

// Routes lists every method and path the server serves itself, in table
// order; the pages of Config.Mount are not listed (their owner knows
// them). /openapi.json documents exactly these, plus Config.MountAPI.
func (s *Server) Routes() []Route {
	var out []Route
	for _, row := range s.table() {
		for _, m := range row.methods {
			asGET := m != http.MethodGet && slices.Contains(row.methods, http.MethodGet)
			out = append(out, Route{Method: m, Path: openAPIPath(row.path), AsGET: asGET})
		}
	}
	return out
}

// openAPIPath writes an httprouter path in OpenAPI's syntax: ":name" and
// "*name" segments become "{name}".
func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") {
			segs[i] = "{" + seg[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}
