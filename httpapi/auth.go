package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"
)

type permissionKey struct{}

func withPermission(ctx context.Context, ok bool) context.Context {
	return context.WithValue(ctx, permissionKey{}, ok)
}

func hasPermission(ctx context.Context) bool {
	ok, _ := ctx.Value(permissionKey{}).(bool)
	return ok
}

// authenticate applies upstream's order (UPSTREAM.md §2.1): a client whose
// address is not allowed has no permission and its token is not checked; an
// allowed client with a token gets permission when the token verifies and an
// error (401) when it does not; no token, no permission.
func (s *Server) authenticate(r *http.Request) (bool, error) {
	token := r.Header.Get("X-Channelstream-Secret")
	if q := r.URL.RawQuery; token == "" && (strings.Contains(q, "secret") || strings.Contains(q, "%")) {
		// Only such a query can hold a secret key: the others (every
		// long-poll) are not parsed here.
		token = r.URL.Query().Get("secret")
	}
	ip, err := s.clientIP.FromRequest(r)
	if err != nil || !s.allow.Allows(ip) {
		return false, nil // logged by protected, on the routes that need permission
	}
	if token == "" {
		return false, nil
	}
	if err := s.verifier.Verify(token); err != nil {
		return false, fmt.Errorf("verify token from %s: %w", ip, err)
	}
	return true, nil
}

// protected answers 403 unless the request was authenticated. A refused
// address is logged as a warning (at most refusedBurst lines per
// refusedPeriod); public routes (static files, /healthz, the transports)
// never log a refused address above debug, so that an outsider cannot
// flood the warning log.
func (s *Server) protected(h httprouter.Handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if !hasPermission(r.Context()) {
			if ip, err := s.clientIP.FromRequest(r); err == nil && !s.allow.Allows(ip) {
				s.refusedLog.Warn().Str("ip", ip.String()).Str("path", r.URL.Path).Msg("IP is not whitelisted (at most 10 such lines per 10 s)")
			}
			writeForbidden(w)
			return
		}
		h(w, r, ps)
	}
}
