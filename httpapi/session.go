package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// sessionCookie is the admin cookie's name, upstream's (Pyramid's
	// AuthTktAuthenticationPolicy).
	sessionCookie = "auth_tkt"
	// sessionMaxAge is how long an admin stays signed in: 30 days, as
	// upstream.
	sessionMaxAge = 30 * 24 * time.Hour
	// sessionContext separates the cookie's MAC from any other use of
	// cookie_secret.
	sessionContext = "channelstream-go admin session v1\x00"
)

// Errors of a session token that does not verify.
var (
	errSessionMalformed = errors.New("malformed admin session token")
	errSessionSignature = errors.New("admin session token has a bad signature")
	errSessionExpired   = errors.New("admin session token has expired")
	errSessionUser      = errors.New("admin session token names another user")
)

// sessions issues and checks the admin session cookie. Its value is
// stateless and signed:
//
//	base64url(username) "." expiry "." base64url(HMAC-SHA256(cookie_secret, context + base64url(username) "." expiry))
//
// where expiry is in Unix seconds and base64url has no padding. A token is
// valid until its expiry, for the configured admin user only; signing out
// expires the browser's cookie (like upstream's auth_tkt, a copied token
// stays valid until it expires or cookie_secret changes).
type sessions struct {
	key  []byte
	user string
	now  func() time.Time
}

// issue returns a token for user that expires sessionMaxAge from now.
func (s *sessions) issue(user string) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(user)) + "." +
		strconv.FormatInt(s.now().Add(sessionMaxAge).Unix(), 10)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload))
}

// verify checks a token's signature, expiry and user.
func (s *sessions) verify(token string) error {
	payload, sig, ok := cutLast(token, ".")
	if !ok {
		return errSessionMalformed
	}
	userPart, expiryPart, ok := strings.Cut(payload, ".")
	if !ok {
		return errSessionMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return errSessionMalformed
	}
	if !hmac.Equal(got, s.mac(payload)) {
		return errSessionSignature
	}
	expiry, err := strconv.ParseInt(expiryPart, 10, 64)
	if err != nil {
		return errSessionMalformed
	}
	if !s.now().Before(time.Unix(expiry, 0)) {
		return errSessionExpired
	}
	user, err := base64.RawURLEncoding.DecodeString(userPart)
	if err != nil {
		return errSessionMalformed
	}
	if subtle.ConstantTimeCompare(user, []byte(s.user)) != 1 {
		return errSessionUser
	}
	return nil
}

func (s *sessions) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(sessionContext))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// fromRequest verifies the request's session cookie, if any.
func (s *sessions) fromRequest(r *http.Request) error {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return fmt.Errorf("no %s cookie: %w", sessionCookie, err)
	}
	return s.verify(c.Value)
}

// sessionCookieFor is the session cookie carrying token; secure adds Secure. An empty
// token makes the cookie that expires the session.
func sessionCookieFor(token string, secure bool) *http.Cookie {
	c := &http.Cookie{
		Name:     sessionCookie,
		Value:    token,
		Path:     "/",
		MaxAge:   int(sessionMaxAge / time.Second),
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
