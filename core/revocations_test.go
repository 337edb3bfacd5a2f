package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

func TestMemoryRevocations(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	ctx := context.Background()
	r := core.NewMemoryRevocations(clock)
	revoked := func(id string) bool {
		t.Helper()
		ok, err := r.Revoked(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if revoked("a") {
		t.Fatal("an id never revoked is revoked")
	}
	if err := r.Revoke(ctx, "a", clock().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := r.Revoke(ctx, "past", clock().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if !revoked("a") || revoked("b") || revoked("past") {
		t.Fatal("revoked: want a only")
	}
	advance(time.Hour)
	if revoked("a") {
		t.Fatal("a revocation outlived its end")
	}
}
