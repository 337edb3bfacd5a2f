package websocket

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/core"
)

// TestAttachWhileBackendAwayIs503: in data-plane mode a socket that cannot
// attach because the data plane is away is refused before the upgrade with
// 503 and a JSON error (not upgraded and closed with 1011); once the data
// plane is back the same connection attaches and gets frames.
func TestAttachWhileBackendAwayIs503(t *testing.T) {
	dp := core.NewMemoryDataPlane()
	e := newDataPlaneNodesOn(t, 1, dp)[0]
	id := e.connect("alice", "c")

	dp.SetDown(true)
	_, resp, err := e.dialErr("conn_id="+id, nil)
	if !errors.Is(err, gws.ErrBadHandshake) || resp == nil {
		t.Fatalf("dial while away: %v, want a refused handshake", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var v struct{ Error string }
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(body, &v) != nil ||
		!strings.HasPrefix(v.Error, "service unavailable: ") {
		t.Fatalf("dial while away: %d %q, want 503 with a JSON error", resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("headers %v, want Retry-After", resp.Header)
	}

	dp.SetDown(false)
	c := e.dial(id)
	e.publish("c", "back")
	if got := readObjects(t, c, 1, wait); got[0].Message != "back" {
		t.Fatalf("after the outage got %+v", got)
	}
}
