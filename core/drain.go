package core

import "slices"

// EndSessions ends the attached transport sessions of the given transports
// (AttachOptions.Transport; none named: every session) with reason d, for
// example DisconnectShutdown after Drain. Connections stay, so clients can
// resume elsewhere or after a restart. It reports how many it ended.
func (h *Hub) EndSessions(d Disconnect, transports ...string) int {
	h.mu.RLock()
	conns := make([]*Conn, 0, len(h.conns))
	for _, c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.RUnlock()
	n := 0
	for _, c := range conns {
		c.mu.Lock()
		if l := c.connLocal; l != nil && l.session != nil && (len(transports) == 0 || slices.Contains(transports, l.session.opts.Transport)) {
			c.endSessionLocked(d)
			n++
		}
		c.mu.Unlock()
	}
	return n
}
