package redisbroker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// TestRevocationsAreSharedKeysWithTTL: a revocation made through one Log
// is seen through another on the same Redis (another node), as one key
// whose TTL ends with it; Redis away is ErrUnavailable.
func TestRevocationsAreSharedKeysWithTTL(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := newLog(t, srv, redisbroker.Config{}).Revocations()
	b := newLog(t, srv, redisbroker.Config{}).Revocations()
	if err := a.Revoke(ctx, "sid-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Revoked(ctx, "sid-1"); err != nil || !ok {
		t.Fatalf("the other node: revoked %v, %v", ok, err)
	}
	if ok, err := b.Revoked(ctx, "sid-2"); err != nil || ok {
		t.Fatalf("an id never revoked: %v, %v", ok, err)
	}
	ttl, err := rawClient(t, srv).TTL(ctx, prefixFor(t)+"revoked:sid-1").Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("key TTL %v, %v; want about an hour", ttl, err)
	}
	srv.Stop()
	if _, err := b.Revoked(ctx, "sid-1"); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Redis away: %v, want ErrUnavailable", err)
	}
}
