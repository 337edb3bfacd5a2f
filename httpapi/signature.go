package httpapi

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// signerSalt and signerKeySep reproduce itsdangerous' default
// "django-concat" key derivation: SHA1(salt + "signer" + secret).
const (
	signerSalt   = "itsdangerous.Signer"
	signerKeySep = "signer"
	tokenSep     = "."
)

// ErrBadSignature is matched (errors.Is) by every error Verify returns: a
// wrong signature, a malformed token and an expired one alike. Callers map it
// to HTTP 401.
var ErrBadSignature = errors.New("bad signature")

// ErrSignatureExpired is matched by errors for tokens older than the
// verifier's maximum age. It also matches ErrBadSignature.
var ErrSignatureExpired error = &subError{msg: "signature expired", parent: ErrBadSignature}

// ErrSignatureFuture is matched by errors for tokens whose timestamp is
// further in the future than the verifier's clock-skew allowance. It also
// matches ErrBadSignature.
var ErrSignatureFuture error = &subError{msg: "signature from the future", parent: ErrBadSignature}

// ErrMalformedToken is matched by errors for tokens that cannot be parsed (no
// separator, bad base64, a timestamp longer than 8 bytes). It also matches
// ErrBadSignature.
var ErrMalformedToken error = &subError{msg: "malformed token", parent: ErrBadSignature}

// subError is a sentinel that also matches its parent sentinel, like
// itsdangerous' SignatureExpired is a BadSignature.
type subError struct {
	msg    string
	parent error
}

func (e *subError) Error() string { return e.msg }
func (e *subError) Unwrap() error { return e.parent }

// Verifier checks itsdangerous TimestampSigner tokens ("<value>.<ts>.<sig>")
// the way itsdangerous 1.1.0 does with its default settings (HMAC-SHA1,
// django-concat key derivation, lenient base64). The signed value itself is
// not checked. A Verifier is immutable and safe for concurrent use.
type Verifier struct {
	key    []byte
	maxAge time.Duration
	skew   time.Duration
	now    func() time.Time
}

// DefaultClockSkew is how far in the future a token's timestamp may be
// when NewVerifier's caller sets no other allowance (WithClockSkew).
const DefaultClockSkew = 60 * time.Second

// NewVerifier returns a Verifier for tokens signed with secret. maxAge 0
// disables the age check (and the future check: itsdangerous 1.1.0 without
// max_age); otherwise a token is rejected when it is more than maxAge old
// or more than DefaultClockSkew in the future (whole seconds, as
// itsdangerous counts; PROTOCOL.md §2 #17). now nil means time.Now.
func NewVerifier(secret string, maxAge time.Duration, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{key: deriveKey(secret), maxAge: maxAge, skew: DefaultClockSkew, now: now}
}

// WithClockSkew returns a copy of v that accepts timestamps at most skew
// ahead of its clock (whole seconds; negative counts as 0).
func (v *Verifier) WithClockSkew(skew time.Duration) *Verifier {
	c := *v
	c.skew = max(skew, 0)
	return &c
}

// Verify returns nil when token carries a valid signature (and is not too
// old). Every error matches ErrBadSignature; expired tokens also match
// ErrSignatureExpired and unparsable ones ErrMalformedToken.
func (v *Verifier) Verify(token string) error {
	signed, sig, ok := cutLast(token, tokenSep)
	if !ok {
		return fmt.Errorf("verify token: %w: no %q separator", ErrMalformedToken, tokenSep)
	}
	got, err := decodeLenient(sig)
	if err != nil {
		return fmt.Errorf("verify token: %w: signature is not base64: %w", ErrBadSignature, err)
	}
	if !hmac.Equal(got, mac(v.key, signed)) {
		return fmt.Errorf("verify token: %w", ErrBadSignature)
	}
	_, ts, ok := cutLast(signed, tokenSep)
	if !ok {
		return fmt.Errorf("verify token: %w: timestamp missing", ErrMalformedToken)
	}
	sec, err := decodeTimestamp(ts)
	if err != nil {
		return fmt.Errorf("verify token: %w: %w", ErrMalformedToken, err)
	}
	if v.maxAge <= 0 {
		return nil
	}
	now := max(v.now().Unix(), 0)
	if sec > uint64(now) {
		if ahead := sec - uint64(now); ahead > uint64(v.skew/time.Second) {
			return fmt.Errorf("verify token: %w: %d s ahead of this clock, %s allowed", ErrSignatureFuture, ahead, v.skew)
		}
		return nil
	}
	age := now - int64(sec)
	if limit := int64(v.maxAge / time.Second); age > limit {
		return fmt.Errorf("verify token: %w: age %ds exceeds %s", ErrSignatureExpired, age, v.maxAge)
	}
	return nil
}

func deriveKey(secret string) []byte {
	sum := sha1.Sum([]byte(signerSalt + signerKeySep + secret))
	return sum[:]
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha1.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// decodeTimestamp decodes a big-endian unsigned integer of at most 8 bytes.
// An empty timestamp decodes to 0, as in itsdangerous.
func decodeTimestamp(s string) (uint64, error) {
	b, err := decodeLenient(s)
	if err != nil {
		return 0, fmt.Errorf("timestamp is not base64: %w", err)
	}
	if len(b) > 8 {
		return 0, fmt.Errorf("timestamp is %d bytes long, at most 8 allowed", len(b))
	}
	var buf [8]byte
	copy(buf[8-len(b):], b)
	return binary.BigEndian.Uint64(buf[:]), nil
}

// decodeLenient decodes base64 the way itsdangerous does: padding is
// optional (trailing '=' are ignored) and the standard alphabet's '+' and '/'
// are accepted alongside the url-safe '-' and '_'.
func decodeLenient(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	s = strings.Map(func(r rune) rune {
		switch r {
		case '+':
			return '-'
		case '/':
			return '_'
		}
		return r
	}, s)
	return base64.RawURLEncoding.DecodeString(s)
}
