package httpapi

import (
	"net/http"
	"strings"
)

// CORS header values, as upstream sends them plus X-Channelstream-Secret
// (PROTOCOL.md §2 #12) and Last-Event-ID (for SSE polyfills that resume
// cross-origin) in the allowed headers.
const (
	corsAllowMethods = "GET, POST, OPTIONS, PUT, DELETE, PATCH"
	corsAllowHeaders = "Content-Type, Depth, User-Agent, X-File-Size, X-Requested-With, If-Modified-Since, " +
		"X-File-Name, Cache-Control, Pragma, Origin, Connection, Referer, Cookie, X-Channelstream-Secret, Last-Event-ID"
	corsMaxAge = "86400" // seconds
)

// CORS sets the cross-origin headers of the allow_cors setting. A CORS is
// immutable and safe for concurrent use.
type CORS struct {
	allow []string
}

// NewCORS returns a CORS for the allow_cors entries. Entries are trimmed and
// empty ones skipped; with none left, every origin is allowed.
func NewCORS(allow []string) *CORS {
	c := &CORS{}
	for _, a := range allow {
		if a = strings.TrimSpace(a); a != "" {
			c.allow = append(c.allow, a)
		}
	}
	return c
}

// SetHeaders sets the CORS headers on h for a request from origin (the
// Origin request header, possibly empty). Access-Control-Allow-Origin is "*"
// when the list is empty or an entry is a substring of origin, and absent
// otherwise; the other headers are always set. Call it for every response,
// errors included.
func (c *CORS) SetHeaders(h http.Header, origin string) {
	if c.allowsOrigin(origin) {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	if len(c.allow) > 0 {
		// The answer depends on Origin: keep shared caches from mixing it up.
		addVary(h, "Origin")
	}
	h.Set("XDomainRequestAllowed", "1")
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
}

func (c *CORS) allowsOrigin(origin string) bool {
	if len(c.allow) == 0 {
		return true
	}
	for _, a := range c.allow {
		if strings.Contains(origin, a) {
			return true
		}
	}
	return false
}

// addVary adds name to the Vary header unless it is already listed.
func addVary(h http.Header, name string) {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return
			}
		}
	}
	h.Add("Vary", name)
}
