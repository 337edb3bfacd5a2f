package main

import (
	_ "embed"
	"maps"
	"net/http"
	"slices"

	"github.com/channelstream-go/channelstream-go/httpapi"
)

// demoActions are the demo's actions under /demo and the methods each
// takes: ServeHTTP routes by this table, demoRoutes lists it.
var demoActions = map[string][]string{
	"/connect":     {http.MethodPost},
	"/subscribe":   {http.MethodPost},
	"/unsubscribe": {http.MethodPost},
	"/user_state":  {http.MethodPost},
	"/message":     {http.MethodPost, http.MethodPatch, http.MethodDelete},
	"/disconnect":  {http.MethodPost, http.MethodGet},
}

// demoOpenAPI describes every route of demoRoutes for /openapi.json (an
// OpenAPI Paths Object, httpapi.Config.MountAPI).
//
//go:embed demo_openapi.json
var demoOpenAPI []byte

// demoRoutes lists what the demo serves: its page and files (GET, HEAD),
// its hub's transports (GET; see demo.transport) and its actions, in
// OpenAPI's path syntax.
func demoRoutes() []httpapi.Route {
	var out []httpapi.Route
	for _, p := range []string{"/demo", "/demo/{file}"} {
		out = append(out, httpapi.Route{Method: http.MethodGet, Path: p}, httpapi.Route{Method: http.MethodHead, Path: p})
	}
	for _, p := range []string{"/demo/ws", "/demo/sse", "/demo/listen"} {
		out = append(out, httpapi.Route{Method: http.MethodGet, Path: p})
	}
	for _, p := range slices.Sorted(maps.Keys(demoActions)) {
		for _, m := range demoActions[p] {
			out = append(out, httpapi.Route{Method: m, Path: "/demo" + p})
		}
	}
	return out
}
