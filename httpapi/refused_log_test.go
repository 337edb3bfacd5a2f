package httpapi

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

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
