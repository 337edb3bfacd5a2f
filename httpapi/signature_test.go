package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

const (
	vectorSecret = "secret"
	vectorTS     = 1600000000 // "X14QAA"
)

func fixedNow(sec int64) func() time.Time {
	return func() time.Time { return time.Unix(sec, 0) }
}

// signWith builds "<value>.<ts>.<sig>" from a literal timestamp string and a
// signature encoder, the way differently behaved signers do.
func signWith(secret, value, ts string, encodeSig func([]byte) string) string {
	signed := value + "." + ts
	return signed + "." + encodeSig(mac(deriveKey(secret), signed))
}

func rawURL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
func stdPad(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// jsStrip is signer.js' hashStrip: JS String.replace with a string pattern
// replaces only the first occurrence.
func jsStrip(s string) string {
	s = strings.Replace(s, "=", "", 1)
	s = strings.Replace(s, "+", "-", 1)
	return strings.Replace(s, "/", "_", 1)
}

// jsSign emulates the JS client's ChannelStreamSigner.signRequest.
func jsSign(secret, value string, sec uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], sec)
	return signWith(secret, value, jsStrip(stdPad(b[:])), func(sig []byte) string { return jsStrip(stdPad(sig)) })
}

func TestVerify(t *testing.T) {
	ts := "X14QAA"
	tests := []struct {
		name  string
		token string
		want  error // nil, or a sentinel the error must match
	}{
		{"vector channelstream verifies", "channelstream.X14QAA.QLT3kgcJYg14C3PAy4wtyg5uGgI", nil},
		{"vector /connect verifies", "/connect.X14QAA.SPM6sHtinEBU8MmBZnatiO-Vq0A", nil},
		{"value with dots verifies", client.Sign(vectorSecret, "a.b.c", time.Unix(vectorTS, 0)), nil},
		{"empty value verifies", client.Sign(vectorSecret, "", time.Unix(vectorTS, 0)), nil},

		// Lenient decoding.
		{"timestamp with leftover '=' verifies", signWith(vectorSecret, "v", ts+"=", rawURL), nil},
		{"timestamp fully padded verifies", signWith(vectorSecret, "v", ts+"==", rawURL), nil},
		{"timestamp with surplus padding verifies", signWith(vectorSecret, "v", ts+"====", rawURL), nil},
		{"signature padded verifies", signWith(vectorSecret, "v", ts, func(b []byte) string { return rawURL(b) + "=" }), nil},
		{"signature in standard alphabet verifies", signWith(vectorSecret, "v", ts, stdPad), nil},
		{"signature with mixed alphabets verifies", signWith(vectorSecret, "v", ts, func(b []byte) string { return jsStrip(stdPad(b)) }), nil},
		{"timestamp in standard alphabet verifies", signWith(vectorSecret, "v", "/+8=", rawURL), nil},

		// Tampering.
		{"changed value is rejected", "channelstreaM.X14QAA.QLT3kgcJYg14C3PAy4wtyg5uGgI", ErrBadSignature},
		{"changed timestamp is rejected", "channelstream.X14QAB.QLT3kgcJYg14C3PAy4wtyg5uGgI", ErrBadSignature},
		{"changed signature is rejected", "channelstream.X14QAA.RLT3kgcJYg14C3PAy4wtyg5uGgI", ErrBadSignature},
		{"truncated signature is rejected", "channelstream.X14QAA.QLT3kgcJYg14C3PAy4wtyg5uGg", ErrBadSignature},
		{"signature of another value is rejected", "channelstream.X14QAA.SPM6sHtinEBU8MmBZnatiO-Vq0A", ErrBadSignature},
		{"wrong secret is rejected", client.Sign("other", "channelstream", time.Unix(vectorTS, 0)), ErrBadSignature},
		{"padding added to signed timestamp is rejected", "channelstream.X14QAA=.QLT3kgcJYg14C3PAy4wtyg5uGgI", ErrBadSignature},
		{"signature that is not base64 is rejected", "channelstream.X14QAA.QLT3kgc!Yg14C3PAy4wtyg5uGgI", ErrBadSignature},
		{"empty signature is rejected", "channelstream.X14QAA.", ErrBadSignature},

		// Malformed.
		{"empty token is malformed", "", ErrMalformedToken},
		{"token without dot is malformed", "channelstream", ErrMalformedToken},
		{"signed value without timestamp is malformed", "channelstream." + rawURL(mac(deriveKey(vectorSecret), "channelstream")), ErrMalformedToken},
		{"timestamp of 9 bytes is malformed", signWith(vectorSecret, "v", rawURL([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}), rawURL), ErrMalformedToken},
		{"timestamp that is not base64 is malformed", signWith(vectorSecret, "v", "X1*QAA", rawURL), ErrMalformedToken},
		{"timestamp of impossible length is malformed", signWith(vectorSecret, "v", "X14QA", rawURL), ErrMalformedToken},
	}
	v := NewVerifier(vectorSecret, 0, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Verify(tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify(%q) = %v, want nil", tt.token, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify(%q) = %v, want an error matching %v and %v", tt.token, err, tt.want, ErrBadSignature)
			}
		})
	}
}

func TestVerifyAge(t *testing.T) {
	token := "channelstream.X14QAA.QLT3kgcJYg14C3PAy4wtyg5uGgI"
	tests := []struct {
		name    string
		token   string
		maxAge  time.Duration
		now     int64
		expired bool
	}{
		{"fresh token is accepted", token, time.Minute, vectorTS, false},
		{"55 s old token is accepted", token, time.Minute, vectorTS + 55, false},
		{"60 s old token is accepted", token, time.Minute, vectorTS + 60, false},
		{"61 s old token is expired", token, time.Minute, vectorTS + 61, true},
		{"1 h old token is expired", token, time.Minute, vectorTS + 3600, true},
		{"1 h old token is accepted without max age", token, 0, vectorTS + 3600, false},
		{"token 60 s in the future is accepted", token, time.Minute, vectorTS - 60, false},
		{"token 1 h in the future is accepted without max age", token, 0, vectorTS - 3600, false},
		{"token with the largest timestamp is accepted without max age", signWith(vectorSecret, "v", rawURL([]byte{255, 255, 255, 255, 255, 255, 255, 255}), rawURL), 0, vectorTS, false},
		{"sub-second max age rounds down", token, 1500 * time.Millisecond, vectorTS + 2, true},
		{"empty timestamp is expired", signWith(vectorSecret, "v", "", rawURL), time.Minute, vectorTS, true},
		{"empty timestamp is accepted without max age", signWith(vectorSecret, "v", "", rawURL), 0, vectorTS, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewVerifier(vectorSecret, tt.maxAge, fixedNow(tt.now)).Verify(tt.token)
			switch {
			case tt.expired && !(errors.Is(err, ErrSignatureExpired) && errors.Is(err, ErrBadSignature)):
				t.Fatalf("Verify = %v, want an error matching %v", err, ErrSignatureExpired)
			case !tt.expired && err != nil:
				t.Fatalf("Verify = %v, want nil", err)
			}
		})
	}
}

// TestVerifyRefusesTheFarFuture: a timestamp beyond the clock-skew
// allowance is a bad signature (PROTOCOL.md §2 #17); itsdangerous 1.1.0
// accepted ts = 2^64-1, a token that never expires.
func TestVerifyRefusesTheFarFuture(t *testing.T) {
	token := "channelstream.X14QAA.QLT3kgcJYg14C3PAy4wtyg5uGgI"
	largest := signWith(vectorSecret, "v", rawURL([]byte{255, 255, 255, 255, 255, 255, 255, 255}), rawURL)
	tests := []struct {
		name   string
		token  string
		skew   time.Duration // < 0: NewVerifier's default
		now    int64
		future bool
	}{
		{"61 s ahead, default allowance", token, -1, vectorTS - 61, true},
		{"60 s ahead, default allowance", token, -1, vectorTS - 60, false},
		{"1 h ahead, default allowance", token, -1, vectorTS - 3600, true},
		{"the largest timestamp", largest, -1, vectorTS, true},
		{"the largest timestamp checked before 1970", largest, -1, -1, true},
		{"token checked before 1970", token, -1, -1, true},
		{"5 s ahead with a 10 s allowance", token, 10 * time.Second, vectorTS - 5, false},
		{"11 s ahead with a 10 s allowance", token, 10 * time.Second, vectorTS - 11, true},
		{"1 s ahead with no allowance", token, 0, vectorTS - 1, true},
		{"now with no allowance", token, 0, vectorTS, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(vectorSecret, time.Minute, fixedNow(tt.now))
			if tt.skew >= 0 {
				v = v.WithClockSkew(tt.skew)
			}
			err := v.Verify(tt.token)
			switch {
			case tt.future && !(errors.Is(err, ErrSignatureFuture) && errors.Is(err, ErrBadSignature)):
				t.Fatalf("Verify = %v, want an error matching %v", err, ErrSignatureFuture)
			case !tt.future && err != nil:
				t.Fatalf("Verify = %v, want nil", err)
			}
		})
	}
}

func TestVerifyAcceptsJSSignerTokens(t *testing.T) {
	v := NewVerifier(vectorSecret, 0, nil)
	leftover := 0
	for sec := uint32(vectorTS); sec < vectorTS+200; sec++ {
		token := jsSign(vectorSecret, "channelstream", sec)
		if strings.ContainsAny(token[strings.LastIndex(token, "."):], "+/") {
			leftover++
		}
		if err := v.Verify(token); err != nil {
			t.Fatalf("Verify(%q) = %v, want nil", token, err)
		}
	}
	if leftover == 0 {
		t.Fatal("no generated token kept a '+' or '/' in its signature; the test proves nothing")
	}
}

// TestVerifyPythonCompat checks tokens made by the installed Python
// itsdangerous, subclassing TimestampSigner to move the clock.
func TestVerifyPythonCompat(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; skipping itsdangerous compatibility test")
	}
	type pyCase struct {
		Name   string `json:"name"`
		Secret string `json:"secret"`
		Offset int64  `json:"offset"`
	}
	cases := []struct {
		pyCase
		okMaxAge60, okMaxAge0 bool
	}{
		{pyCase{"current", vectorSecret, 0}, true, true},
		{pyCase{"55s old", vectorSecret, -55}, true, true},
		{pyCase{"61s old", vectorSecret, -61}, false, true},
		{pyCase{"1h old", vectorSecret, -3600}, false, true},
		{pyCase{"1h in the future", vectorSecret, 3600}, false, true},
		{pyCase{"30s in the future", vectorSecret, 30}, true, true},
		{pyCase{"wrong secret", "not-the-secret", 0}, false, false},
	}
	values := []string{"channelstream", "/connect", "xyz", "a.b.c"}
	var input struct {
		Cases  []pyCase `json:"cases"`
		Values []string `json:"values"`
	}
	for _, c := range cases {
		input.Cases = append(input.Cases, c.pyCase)
	}
	input.Values = values
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import json, sys, time
try:
    from itsdangerous import TimestampSigner
except ImportError:
    print(json.dumps({"missing": True}))
    sys.exit(0)
spec = json.loads(sys.argv[1])
base = int(time.time())
def make(secret, value, offset):
    class S(TimestampSigner):
        def get_timestamp(self):
            return base + offset
    return S(secret).sign(value).decode("utf-8")
tokens = {c["name"]: {v: make(c["secret"], v, c["offset"]) for v in spec["values"]} for c in spec["cases"]}
print(json.dumps({"now": base, "tokens": tokens}))
`
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", script, string(in)).Output()
	if err != nil {
		t.Fatalf("running python3: %v", err)
	}
	var got struct {
		Missing bool                         `json:"missing"`
		Now     int64                        `json:"now"`
		Tokens  map[string]map[string]string `json:"tokens"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("decoding python output %q: %v", out, err)
	}
	if got.Missing {
		t.Skip("python3 has no itsdangerous module; skipping itsdangerous compatibility test")
	}
	strict := NewVerifier(vectorSecret, 60*time.Second, fixedNow(got.Now))
	lax := NewVerifier(vectorSecret, 0, fixedNow(got.Now))
	check := func(t *testing.T, v *Verifier, token string, ok bool) {
		t.Helper()
		if err := v.Verify(token); (err == nil) != ok {
			t.Errorf("Verify(%q) = %v, want accepted=%v", token, err, ok)
		}
	}
	for _, c := range cases {
		for _, value := range values {
			token := got.Tokens[c.Name][value]
			t.Run(c.Name+"/"+value, func(t *testing.T) {
				check(t, strict, token, c.okMaxAge60)
				check(t, lax, token, c.okMaxAge0)
				if c.Secret == vectorSecret {
					if mine := client.Sign(c.Secret, value, time.Unix(got.Now+c.Offset, 0)); mine != token {
						t.Errorf("Sign = %q, itsdangerous made %q", mine, token)
					}
				}
			})
		}
	}
}
