package core_test

import (
	"context"
	"strings"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// TestClusterReadyNeedsTheDataPlane: a node whose DataPlane cannot be
// reached is not ready (it could take no message), and is again once the
// DataPlane answers.
func TestClusterReadyNeedsTheDataPlane(t *testing.T) {
	dp := &core.MemoryDataPlane{}
	nd := startNode(t, core.NewMemoryLog(), core.Config{DataPlane: dp}, "node0")
	dp.SetDown(true)
	if err := nd.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "data plane") {
		t.Fatalf("Ready with the data plane down: %v, want an error naming the data plane", err)
	}
	dp.SetDown(false)
	if err := nd.Ready(context.Background()); err != nil {
		t.Fatalf("Ready with the data plane back: %v", err)
	}
}
