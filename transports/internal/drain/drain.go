// Package drain counts what a transport holds (sockets, streams, polls),
// so that its Shutdown can wait until it holds nothing.
package drain

import (
	"context"
	"sync"
)

// Group counts what a transport holds. The zero value holds nothing and
// is ready to use; it is safe for concurrent use.
type Group struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil: nobody waits
}

// Add counts one more in. Call it before the goroutine that will call
// Done starts, so that Wait cannot miss it.
func (g *Group) Add() {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
}

// Done counts one out.
func (g *Group) Done() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	g.mu.Unlock()
}

// Len reports how many are held now.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// Wait blocks until the group holds nothing, or ctx is done (returning
// ctx's error).
func (g *Group) Wait(ctx context.Context) error {
	g.mu.Lock()
	if g.n == 0 {
		g.mu.Unlock()
		return nil
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
