package client_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// TestSignMatchesItsdangerous signs the same values at the same moments as
// the installed Python itsdangerous (its TimestampSigner with the clock
// moved) and expects the same tokens, character for character.
func TestSignMatchesItsdangerous(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; skipping the itsdangerous comparison")
	}
	secrets := []string{"secret", "", "ünïcode secret", "a.b"}
	values := []string{client.SignedValue, "", "a.b.c", "/connect", "ünïcode"}
	times := []int64{0, 1, 255, 256, 1600000000, 1<<32 - 1, 1 << 32, 4102444800}
	in, err := json.Marshal(map[string]any{"secrets": secrets, "values": values, "times": times})
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import json, sys
try:
    from itsdangerous import TimestampSigner
except ImportError:
    print(json.dumps(None)); sys.exit(0)
spec = json.loads(sys.argv[1])
out = []
for secret in spec["secrets"]:
    for value in spec["values"]:
        for ts in spec["times"]:
            class S(TimestampSigner):
                def get_timestamp(self, ts=ts):
                    return ts
            out.append([secret, value, ts, S(secret).sign(value).decode("utf-8")])
print(json.dumps(out))
`
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", script, string(in)).Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var tokens [][4]any
	if err := json.Unmarshal(out, &tokens); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if tokens == nil {
		t.Skip("python3 has no itsdangerous; skipping the itsdangerous comparison")
	}
	if want := len(secrets) * len(values) * len(times); len(tokens) != want {
		t.Fatalf("python made %d tokens, want %d", len(tokens), want)
	}
	for _, tok := range tokens {
		secret, value, ts, want := tok[0].(string), tok[1].(string), int64(tok[2].(float64)), tok[3].(string)
		if got := client.Sign(secret, value, time.Unix(ts, 0)); got != want {
			t.Errorf("Sign(%q, %q, %d) = %q, itsdangerous made %q", secret, value, ts, got, want)
		}
	}
}

func TestSignBefore1970IsSignedAsZero(t *testing.T) {
	if got, want := client.Sign("secret", "v", time.Unix(-5, 0)), client.Sign("secret", "v", time.Unix(0, 0)); got != want {
		t.Fatalf("Sign before 1970 = %q, want the token of 0 %q", got, want)
	}
}
