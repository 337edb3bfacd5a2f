package core

import (
	"context"
	"sync"
	"time"
)

// Revocations remembers ids that were revoked before they expired: the
// admin sessions signed out. A cluster's nodes share one (see
// redisbroker.Log.Revocations) so that a session signed out on one node is
// refused on every node. Implementations are safe for concurrent use.
type Revocations interface {
	// Revoke marks id revoked until until; after that it may be forgotten
	// (the id has expired by then anyway).
	Revoke(ctx context.Context, id string, until time.Time) error
	// Revoked reports whether id was revoked and its revocation has not
	// expired yet.
	Revoked(ctx context.Context, id string) (bool, error)
}

// MemoryRevocations is the Revocations of one node, in memory. Expired
// entries are dropped as new ones are added.
type MemoryRevocations struct {
	now func() time.Time

	mu    sync.Mutex
	until map[string]time.Time
}

// NewMemoryRevocations returns an empty store; now nil means time.Now.
func NewMemoryRevocations(now func() time.Time) *MemoryRevocations {
	if now == nil {
		now = time.Now
	}
	return &MemoryRevocations{now: now, until: map[string]time.Time{}}
}

// Revoke implements Revocations.
func (m *MemoryRevocations) Revoke(_ context.Context, id string, until time.Time) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, u := range m.until {
		if !now.Before(u) {
			delete(m.until, k)
		}
	}
	if now.Before(until) {
		m.until[id] = until
	}
	return nil
}

// Revoked implements Revocations.
func (m *MemoryRevocations) Revoked(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.until[id]
	return ok && m.now().Before(u), nil
}
