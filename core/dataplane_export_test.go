package core

// Test hooks of data-plane mode (package core_test uses them).

// DPStreams is how many streams have a connection this node holds (each
// with Subscriber references), 0 outside data-plane mode.
func (h *Hub) DPStreams() int {
	if h.dpn == nil {
		return 0
	}
	return h.dpn.localStreams()
}

// DPReceived is how many entries this node's Subscriber delivered.
func (h *Hub) DPReceived() int64 {
	if h.dpn == nil {
		return 0
	}
	return h.dpn.received.Load()
}

// DPHeld reports whether this node holds the connection's queue.
func (h *Hub) DPHeld(connID string) bool {
	h.mu.RLock()
	c := h.connLocked(connID)
	h.mu.RUnlock()
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dp != nil
}

// DPBuffered is how many live entries wait for the connection's
// catch-up to finish.
func (h *Hub) DPBuffered(connID string) int {
	h.mu.RLock()
	c := h.connLocked(connID)
	h.mu.RUnlock()
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	if c.dp != nil {
		for _, b := range c.dp.catching {
			n += len(b)
		}
	}
	return n
}

// DPReleased reports whether this node applied a release of the
// connection that carries a cursor (and knows no holder).
func (h *Hub) DPReleased(connID string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	c := h.connLocked(connID)
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.holderNode() == "" && c.rel != nil
}

// QueuedFrames counts the frames every connection of this node holds in
// its queue.
func (h *Hub) QueuedFrames() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, c := range h.conns {
		n += c.queueLen()
	}
	return n
}
