package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

const (
	// sessionCookie is the admin cookie's name, upstream's (Pyramid's
	// AuthTktAuthenticationPolicy).
	sessionCookie = "auth_tkt"
	// sessionContext separates the cookie's MAC from any other use of
	// cookie_secret.
	sessionContext = "channelstream-go admin session v2\x00"
)

// Errors of a session token that does not verify.
var (
	errSessionMalformed = errors.New("malformed admin session token")
	errSessionSignature = errors.New("admin session token has a bad signature")
	errSessionExpired   = errors.New("admin session token has expired")
	errSessionUser      = errors.New("admin session token names another user")
	errSessionRevoked   = errors.New("admin session was signed out")
)

// sessions issues and checks the admin session cookie. Its value is signed:
//
//	base64url(username) "." expiry "." id "." base64url(HMAC-SHA256(cookie_secret, context + the rest))
//
// where expiry is in Unix seconds, id is 32 random hex digits naming the
// session and base64url has no padding. A token is valid until its expiry,
// for the configured admin user only, unless its id was revoked (signed
// out) in revoked, which a cluster's nodes share.
type sessions struct {
	key      []byte
	user     string
	lifetime time.Duration
	now      func() time.Time
	revoked  core.Revocations
}

// session is a verified token.
type session struct {
	id     string
	expiry time.Time
}

// issue returns a new session's token for user that expires lifetime from
// now.
func (s *sessions) issue(user string) string {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	payload := base64.RawURLEncoding.EncodeToString([]byte(user)) + "." +
		strconv.FormatInt(s.now().Add(s.lifetime).Unix(), 10) + "." + hex.EncodeToString(id[:])
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload))
}

// verify checks a token's signature, expiry and user, and that it was not
// revoked.
func (s *sessions) verify(ctx context.Context, token string) (session, error) {
	payload, sig, ok := cutLast(token, ".")
	if !ok {
		return session{}, errSessionMalformed
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 {
		return session{}, errSessionMalformed
	}
	userPart, expiryPart, id := parts[0], parts[1], parts[2]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return session{}, errSessionMalformed
	}
	if !hmac.Equal(got, s.mac(payload)) {
		return session{}, errSessionSignature
	}
	expiry, err := strconv.ParseInt(expiryPart, 10, 64)
	if err != nil {
		return session{}, errSessionMalformed
	}
	if !s.now().Before(time.Unix(expiry, 0)) {
		return session{}, errSessionExpired
	}
	user, err := base64.RawURLEncoding.DecodeString(userPart)
	if err != nil {
		return session{}, errSessionMalformed
	}
	if subtle.ConstantTimeCompare(user, []byte(s.user)) != 1 {
		return session{}, errSessionUser
	}
	revoked, err := s.revoked.Revoked(ctx, id)
	if err != nil {
		return session{}, fmt.Errorf("check admin session: %w", err) // refused while unknown
	}
	if revoked {
		return session{}, errSessionRevoked
	}
	return session{id: id, expiry: time.Unix(expiry, 0)}, nil
}

func (s *sessions) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(sessionContext))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// fromRequest verifies the request's session cookie, if any.
func (s *sessions) fromRequest(r *http.Request) (session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, fmt.Errorf("no %s cookie: %w", sessionCookie, err)
	}
	return s.verify(r.Context(), c.Value)
}

// cookie is the session cookie carrying token, for maxAge; secure adds
// Secure. An empty token makes the cookie that expires the session.
func sessionCookieFor(token string, maxAge time.Duration, secure bool) *http.Cookie {
	c := &http.Cookie{
		Name:     sessionCookie,
		Value:    token,
		Path:     "/",
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	}
	if token == "" {
		c.MaxAge = -1 // "Max-Age=0"
		c.Expires = time.Unix(0, 0)
	}
	return c
}
