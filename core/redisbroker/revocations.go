package redisbroker

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
)

// Revocations returns the cluster's shared core.Revocations: each revoked
// id is a plain key KeyPrefix + "revoked:" + id whose TTL ends with the
// revocation, on the Log's Redis. A Redis that cannot be reached makes
// Revoke and Revoked fail with core.ErrUnavailable.
func (l *Log) Revocations() core.Revocations { return revocations{l} }

type revocations struct{ l *Log }

func (r revocations) key(id string) string { return r.l.cfg.KeyPrefix + "revoked:" + id }

// Revoke implements core.Revocations.
func (r revocations) Revoke(ctx context.Context, id string, until time.Time) error {
	ttl := time.Until(until)
	if ttl <= 0 {
		return nil
	}
	if err := r.l.rdb.Set(ctx, r.key(id), 1, ttl).Err(); err != nil {
		return fmt.Errorf("revoke %q: %w: %w", id, core.ErrUnavailable, err)
	}
	return nil
}

// Revoked implements core.Revocations.
func (r revocations) Revoked(ctx context.Context, id string) (bool, error) {
	err := r.l.rdb.Get(ctx, r.key(id)).Err()
	switch {
	case err == nil:
		return true, nil
	case err == redis.Nil:
		return false, nil
	default:
		return false, fmt.Errorf("revoked %q: %w: %w", id, core.ErrUnavailable, err)
	}
}
