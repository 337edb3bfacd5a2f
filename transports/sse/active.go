package sse

import "context"

// streamStarted counts a stream in. Call it before the stream's goroutine
// starts, so that Wait cannot miss it.
func (h *Handler) streamStarted() {
	h.mu.Lock()
	if h.active == 0 {
		h.idle = make(chan struct{})
	}
	h.active++
	h.mu.Unlock()
}

// streamEnded counts a stream out.
func (h *Handler) streamEnded() {
	h.mu.Lock()
	h.active--
	if h.active == 0 {
		close(h.idle)
	}
	h.mu.Unlock()
}

// Active reports how many streams the handler is writing now.
func (h *Handler) Active() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.active
}

// Wait blocks until the handler writes no stream, or ctx is done. Streams
// taken over from net/http are invisible to http.Server.Shutdown: after
// ending the hub's sessions on shutdown, wait for them here so that each
// client gets its reconnection hint before the process exits.
func (h *Handler) Wait(ctx context.Context) error {
	h.mu.Lock()
	if h.active == 0 {
		h.mu.Unlock()
		return nil
	}
	idle := h.idle
	h.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
