package httpapi

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"
)

// openAPITemplate is the OpenAPI 3.1 description of every route of table,
// each written once: where methods answer as GET does (Route.AsGET: HEAD,
// and /info, /disconnect, /admin/admin.json, which take any method) it
// documents GET (and POST where it differs), and openAPIDocument copies
// GET to the others.
//
//go:embed openapi.json
var openAPITemplate []byte

// openAPIDocument is the document GET /openapi.json serves: the template
// cut down to the routes this server has (Routes), the Mount pages' paths
// (Config.MountAPI) added, and info.version set to the build.
func openAPIDocument(routes []Route, mountAPI []byte, build Build) (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPITemplate, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	tmpl, _ := doc["paths"].(map[string]any)
	paths := map[string]any{}
	for _, rt := range routes {
		item, _ := tmpl[rt.Path].(map[string]any)
		op := operationFor(item, rt.Method, rt.AsGET)
		if op == nil {
			continue // the route check in the tests names it
		}
		out, _ := paths[rt.Path].(map[string]any)
		if out == nil {
			out = map[string]any{}
			paths[rt.Path] = out
		}
		out[strings.ToLower(rt.Method)] = op
	}
	if len(mountAPI) > 0 {
		var extra map[string]any
		if err := json.Unmarshal(mountAPI, &extra); err != nil {
			return nil, fmt.Errorf("Config.MountAPI: %w", err)
		}
		for p, item := range extra {
			if _, dup := paths[p]; dup {
				return nil, fmt.Errorf("Config.MountAPI: path %s is already the server's", p)
			}
			paths[p] = item
		}
	}
	doc["paths"] = paths
	info, _ := doc["info"].(map[string]any)
	if info == nil {
		return nil, errors.New("openapi.json: no info")
	}
	info["version"] = build.String()
	return doc, nil
}

// operationFor is the template's operation for method in item, or, for a
// method that answers as GET (Route.AsGET), a copy of its GET operation
// (operationId suffixed with the method; without the request body and
// response contents for HEAD); nil when there is none.
func operationFor(item map[string]any, method string, asGET bool) map[string]any {
	m := strings.ToLower(method)
	if op, ok := item[m].(map[string]any); ok {
		return op
	}
	get, ok := item["get"].(map[string]any)
	if !asGET {
		ok = false
	}
	if !ok {
		return nil
	}
	op := make(map[string]any, len(get))
	for k, v := range get {
		op[k] = v
	}
	if id, ok := op["operationId"].(string); ok {
		op["operationId"] = id + strings.ToUpper(m[:1]) + m[1:]
	}
	op["summary"] = fmt.Sprintf("%v (%s, as GET)", get["summary"], method)
	if m == "head" {
		delete(op, "requestBody")
		responses := map[string]any{}
		for code, r := range get["responses"].(map[string]any) {
			if rm, ok := r.(map[string]any); ok && rm["content"] != nil {
				rm = map[string]any{"description": rm["description"]}
				r = rm
			}
			responses[code] = r
		}
		op["responses"] = responses
	}
	return op
}

// openAPI serves the document to a signed request or an admin session;
// others get 403 (upstream), not the sign-in redirect. Behind a trusted
// proxy's X-Script-Name prefix the document names it as its server.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if _, err := s.sessions.fromRequest(r); err != nil && !hasPermission(r.Context()) {
		writeForbidden(w)
		return
	}
	body := s.openAPIJSON
	if prefix := ScriptName(r); prefix != "" {
		doc := make(map[string]any, len(s.openAPIDoc)+1)
		for k, v := range s.openAPIDoc {
			doc[k] = v
		}
		doc["servers"] = []map[string]string{{"url": prefix}}
		body, _ = json.Marshal(doc)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
