// Package writer is the write path that the streaming transports
// (WebSocket, SSE) share: a connection's non-blocking socket writer (Conn),
// the write lock, batch and rest of a batch that its writer goroutine and
// the transport's pump share (Stream), the batch buffers, and the
// heartbeat slots (UntilBeat, UntilPing). A transport keeps only its framing (a
// Framer), its handshake and its writer's select loop.
//
// # Concurrency contract
//
// A Stream's Push runs on the pump and never waits: it only tries the
// write lock, writes what the socket's send buffer takes at once, and
// hands anything else back to the writer goroutine with
// core.Session.Signal. The writer takes the lock (Flush, Lock), first
// finishes the batch the pump left, so that nothing is ever written inside
// a batch, and may wait, within the transport's write wait. Whoever holds
// the lock owns the session's Next and Written. A Conn is used by one
// goroutine at a time (the one holding the lock).
package writer
