package core

// Test hooks of clustered hubs (package core_test uses them).

// Holder is the node that holds the connection as far as this node
// applied the log ("" when none, or the connection is unknown).
func (h *Hub) Holder(connID string) string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if c := h.connLocked(connID); c != nil {
		return c.holderNode()
	}
	return ""
}

// Applied is how many log entries this node has applied.
func (h *Hub) Applied() int64 { return h.repl.applied.Load() }
