package httpapi

import (
	"errors"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

func FuzzVerify(f *testing.F) {
	f.Add("channelstream.X14QAA.QLT3kgcJYg14C3PAy4wtyg5uGgI", "secret", "channelstream", int64(1600000000))
	f.Add("/connect.X14QAA=.SPM6sHtinEBU8MmBZnatiO+Vq0A=", "secret", "/connect", int64(0))
	f.Add("a.b.c..", "", "a.b.c", int64(-1))
	f.Add("....", "s", "\x00\xff", int64(1<<62))
	f.Fuzz(func(t *testing.T, token, secret, value string, ts int64) {
		// Arbitrary input never panics.
		_ = NewVerifier(secret, time.Minute, fixedNow(ts)).Verify(token)

		signed := client.Sign(secret, value, time.Unix(ts, 0))
		if err := NewVerifier(secret, 0, nil).Verify(signed); err != nil {
			t.Fatalf("Verify(client.Sign(%q, %q, %d)) = %v", secret, value, ts, err)
		}
		if err := NewVerifier(secret, time.Minute, fixedNow(ts)).Verify(signed); err != nil {
			t.Fatalf("Verify(client.Sign(%q, %q, %d)) at signing time = %v", secret, value, ts, err)
		}
		if err := NewVerifier(secret+"x", 0, nil).Verify(signed); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify with another secret = %v, want %v", err, ErrBadSignature)
		}
	})
}
