package client

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// SignedValue is the value channelstream's own clients sign; the server
// accepts a token of any value.
const SignedValue = "channelstream"

// Header is the request header that carries the token (the query parameter
// "secret" works too).
const Header = "X-Channelstream-Secret"

// Sign returns an itsdangerous TimestampSigner token ("value.timestamp.
// signature") for value, signed with secret at time ts, exactly as Python's
// itsdangerous signs with its default settings: the timestamp is the
// big-endian Unix time in whole seconds (times before 1970 as 0) in URL-safe
// base64 without padding; the signature is the HMAC-SHA1 of
// "value.timestamp" under the key SHA1("itsdangerous.Signer" + "signer" +
// secret), in the same encoding. The server accepts a token for 60 s after
// ts (and any token from the future).
func Sign(secret, value string, ts time.Time) string {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(max(ts.Unix(), 0)))
	i := 0
	for i < len(buf) && buf[i] == 0 {
		i++
	}
	signed := value + "." + base64.RawURLEncoding.EncodeToString(buf[i:])
	key := sha1.Sum([]byte("itsdangerous.Signer" + "signer" + secret))
	h := hmac.New(sha1.New, key[:])
	h.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
