package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRefusedAddressesDoNotFloodTheLog(t *testing.T) {
	var logs lockedBuffer
	a := newAPI(t, func(c *Config, _ *core.Config) {
		c.AllowPostingFrom = []string{"10.9.9.9"} // the test client (127.0.0.1) is refused
		c.Logger = zerolog.New(&logs)
	})
	for range 60 {
		if code, _ := a.call("POST", "/message", `[]`); code != http.StatusForbidden {
			t.Fatalf("refused address answered %d, want 403", code)
		}
	}
	// The 60 requests take far less than refusedPeriod.
	if n := strings.Count(logs.String(), "not whitelisted"); n != refusedBurst {
		t.Fatalf("%d refusal lines for 60 refused requests, want %d:\n%s", n, refusedBurst, logs.String())
	}
}

// TestPublicRoutesDoNotWarn: requests a refused address makes to public
// routes (static files, /healthz, the transports, sign-in page) log
// nothing above debug (issue 12, item 7).
func TestPublicRoutesDoNotWarn(t *testing.T) {
	var logs lockedBuffer
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	a := newAPI(t, func(c *Config, _ *core.Config) {
		c.AllowPostingFrom = []string{"10.9.9.9"} // the test client (127.0.0.1) is refused
		c.Logger = zerolog.New(&logs).Level(zerolog.InfoLevel)
		c.Static, c.LongPoll, c.SSE, c.WebSocket = ok, ok, ok, ok
	})
	for _, p := range []string{"/healthz", "/readyz", "/static/x.js", "/listen?conn_id=x", "/sse", "/ws", "/admin/sign_in", "/nothing"} {
		for range 3 {
			code, _, b := a.raw("GET", p, "", nil)
			if code >= 500 {
				t.Fatalf("GET %s: %d %s", p, code, b)
			}
		}
	}
	if s := logs.String(); s != "" {
		t.Fatalf("public routes logged at info or above:\n%s", s)
	}
}

// ambiguousLog is a MemoryLog whose appends fail without saying whether
// the entry was stored, as a network backend's do when the connection
// breaks after a command was written.
type ambiguousLog struct{ *core.MemoryLog }

func (ambiguousLog) Append(context.Context, []byte) (string, error) {
	return "", fmt.Errorf("connection reset after the command was written: %w", core.ErrUnavailable)
}

// TestBackendFailuresAnswerWhatIsKnown checks the two answers of a change
// the shared backend did not take: 503 when it certainly was not made, 504
// when nobody can tell, each with a JSON error that says so.
func TestBackendFailuresAnswerWhatIsKnown(t *testing.T) {
	const body = `[{"channel": "c", "user": "u", "message": {"text": "hi"}}]`
	t.Run("down: 503", func(t *testing.T) {
		log := core.NewMemoryLog()
		log.SetDown(true)
		a := newAPI(t, func(_ *Config, hc *core.Config) { hc.Log = log })
		code, b := a.call("POST", "/message", body)
		if code != http.StatusServiceUnavailable || !strings.Contains(string(b), `"error":"service unavailable: `) ||
			!strings.Contains(string(b), "retry later") {
			t.Fatalf("/message with the log down = %d %s", code, b)
		}
	})
	t.Run("unconfirmed: 504", func(t *testing.T) {
		a := newAPI(t, func(_ *Config, hc *core.Config) {
			hc.Log = ambiguousLog{core.NewMemoryLog()}
			hc.ReplicateTimeout = 100 * time.Millisecond
		})
		code, b := a.call("POST", "/message", body)
		if code != http.StatusGatewayTimeout || !strings.Contains(string(b), `"error":"outcome unknown: `) ||
			!strings.Contains(string(b), "may or may not have been made") {
			t.Fatalf("/message with unconfirmed appends = %d %s", code, b)
		}
	})
}
