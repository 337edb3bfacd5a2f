package httpapi

import (
	"context"
	"net/http"
	"regexp"
	"strings"
)

// A request's scheme and mount prefix come from the proxy in front of the
// gateway (X-Scheme, X-Url-Scheme, X-Forwarded-Proto, X-Script-Name), as
// upstream reads them. They decide enforce_https, the admin cookie's Secure
// flag, generated URLs and the demo's <base href>, so they are believed
// only from a peer in trusted_proxies; from anyone else they are ignored.

// forwarded is what the API believes about how the client reached it.
type forwarded struct {
	scheme     string // "http" or "https": the connection's, or a trusted proxy's
	scriptName string // "" or a trusted proxy's X-Script-Name, "/seg[/seg...]"
}

type forwardedKey struct{}

// scriptNameRE is what an X-Script-Name prefix may look like: path
// segments of unreserved characters. Any other value is ignored.
var scriptNameRE = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

// readForwarded reads r's scheme and script name, believing the proxy
// headers only when r's peer is a trusted proxy.
func (s *Server) readForwarded(r *http.Request) forwarded {
	f := forwarded{scheme: "http"}
	if r.TLS != nil {
		f.scheme = "https"
	}
	if !s.clientIP.TrustsPeer(r) {
		return f
	}
	for _, h := range []string{"X-Scheme", "X-Url-Scheme", "X-Forwarded-Proto"} {
		if v := strings.ToLower(strings.TrimSpace(r.Header.Get(h))); v != "" {
			if v == "http" || v == "https" {
				f.scheme = v
			}
			break
		}
	}
	if p := strings.TrimRight(r.Header.Get("X-Script-Name"), "/"); scriptNameRE.MatchString(p) {
		f.scriptName = p
	}
	return f
}

// stripScriptName strips a believed script name from r's path.
func stripScriptName(r *http.Request, f forwarded) {
	if p := f.scriptName; p != "" && strings.HasPrefix(r.URL.Path, p+"/") {
		r.URL.Path = strings.TrimPrefix(r.URL.Path, p)
		r.URL.RawPath = ""
	}
}

// withForwarded records what was believed about a request on its context,
// for ScriptName and the admin's URLs.
func withForwarded(ctx context.Context, f forwarded) context.Context {
	return context.WithValue(ctx, forwardedKey{}, f)
}

// forwardedOf is what the Server believed about r (plain http and no
// prefix for a request that did not pass through it).
func forwardedOf(r *http.Request) forwarded {
	if f, ok := r.Context().Value(forwardedKey{}).(forwarded); ok {
		return f
	}
	return forwarded{scheme: "http"}
}

// ScriptName is the path prefix a trusted proxy mounts the gateway under
// (its X-Script-Name, already stripped from r.URL.Path by the Server), or
// "" when there is none or the request did not come from a trusted proxy.
// Handlers mounted on the Server (Config.Mount) use it to build links.
func ScriptName(r *http.Request) string {
	return forwardedOf(r).scriptName
}

// scheme is the scheme the client used, for the cookie and generated URLs:
// Config.HTTPScheme when set, else what the Server believed.
func (s *Server) scheme(r *http.Request) string {
	if s.cfg.HTTPScheme != "" {
		return s.cfg.HTTPScheme
	}
	return forwardedOf(r).scheme
}

// hostRE is what a Host header may be to appear in a generated URL.
var hostRE = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)

// url is the absolute URL of path as the client sees it: its scheme and
// Host, behind a trusted proxy's script name. With an unusable Host it is
// the path alone.
func (s *Server) url(r *http.Request, path string) string {
	path = ScriptName(r) + path
	if !hostRE.MatchString(r.Host) {
		return path
	}
	return s.scheme(r) + "://" + r.Host + path
}
