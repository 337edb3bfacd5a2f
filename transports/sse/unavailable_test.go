package sse_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// TestAttachWhileBackendAwayIs503: in data-plane mode a stream that cannot
// attach because the data plane is away is answered 503 with a JSON error
// and Retry-After (not a 500); once the data plane is back the same
// connection attaches and streams.
func TestAttachWhileBackendAwayIs503(t *testing.T) {
	dp := core.NewMemoryDataPlane()
	a := newDataPlaneNodesOn(t, 1, dp)[0]
	id := connect(t, a.hub, "alice", "c")

	dp.SetDown(true)
	resp, err := http.Get(a.url + "/sse?conn_id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var v struct{ Error string }
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(body, &v) != nil ||
		!strings.HasPrefix(v.Error, "service unavailable: ") {
		t.Fatalf("attach while away: %d %q, want 503 with a JSON error", resp.StatusCode, body)
	}
	if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("headers %v, want JSON and Retry-After", resp.Header)
	}

	dp.SetDown(false)
	sub := subscribe(t, newClient(a.url+"/sse?conn_id="+id), nil)
	publish(t, a.hub, "c", "back")
	if got := sub.frames(t, 1); got[0].Message != "back" {
		t.Fatalf("after the outage got %+v", got)
	}
}
