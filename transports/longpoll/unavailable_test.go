package longpoll

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// TestAttachWhileBackendAwayIs503: in data-plane mode a poll that cannot
// attach because the data plane is away is answered 503 with a JSON error
// and Retry-After (not a 500); once the data plane is back the same
// connection polls its frames.
func TestAttachWhileBackendAwayIs503(t *testing.T) {
	dp := core.NewMemoryDataPlane()
	e := newDataPlaneNodesOn(t, 1, Config{Timeout: 2 * time.Second, Gather: NoGather}, dp)[0]
	id := e.connect(t, "alice", "c")

	dp.SetDown(true)
	r := e.poll(t, id, nil)
	var v struct{ Error string }
	if r.status != http.StatusServiceUnavailable || json.Unmarshal(r.body, &v) != nil ||
		!strings.HasPrefix(v.Error, "service unavailable: ") {
		t.Fatalf("poll while away: %d %q, want 503 with a JSON error", r.status, r.body)
	}
	if r.header.Get("Content-Type") != "application/json" || r.header.Get("Retry-After") == "" {
		t.Errorf("headers %v, want JSON and Retry-After", r.header)
	}

	dp.SetDown(false)
	e.publish("c", "back")
	var got []frame
	waitFor(t, 10*time.Second, "the message after the outage", func() bool {
		got = append(got, frames(t, e.poll(t, id, nil))...)
		return len(got) > 0
	})
	if got[0].text() != "back" {
		t.Fatalf("after the outage got %+v", got)
	}
}
