package websocket

import (
	"sync"
	"sync/atomic"
)

// Shutdown phases of a Handler (Handler.phase).
const (
	// phaseRunning: sockets serve their clients.
	phaseRunning int32 = iota
	// phaseClosing: Shutdown was called; each socket closes with 1012 at
	// its own moment of the shutdown window.
	phaseClosing
	// phaseKilled: Shutdown gave up waiting; every socket ends at once.
	phaseKilled
)

// registry is the set of attached sockets, so that Shutdown can wake each
// writer through its heartbeat timer instead of a channel that every
// parked writer would also wait on (one select case, and one sudog, per
// socket). An intrusive list under a mutex: adding and removing a socket
// costs no allocation.
type registry struct {
	phase atomic.Int32 // phaseRunning, phaseClosing, phaseKilled

	mu   sync.Mutex
	head *socket
}

// add puts s in the registry and wakes its writer at once if Shutdown
// began before (s.beat must be set).
func (r *registry) add(s *socket) {
	r.mu.Lock()
	s.next = r.head
	if s.next != nil {
		s.next.prev = s
	}
	r.head = s
	r.mu.Unlock()
	if r.phase.Load() != phaseRunning {
		s.beat.Reset(0)
	}
}

// remove takes s out of the registry.
func (r *registry) remove(s *socket) {
	r.mu.Lock()
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		r.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
	r.mu.Unlock()
}

// enter moves to phase and wakes every registered writer. A writer that
// re-arms its timer concurrently checks the phase after doing so (see
// socket.rearm), so that no wake-up is lost.
func (r *registry) enter(phase int32) {
	r.phase.Store(phase)
	r.mu.Lock()
	for s := r.head; s != nil; s = s.next {
		s.beat.Reset(0)
	}
	r.mu.Unlock()
}
