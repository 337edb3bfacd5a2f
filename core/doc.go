// Package core is channelstream's transport-agnostic hub: users, connections,
// channels, presence, user state, history and the per-connection outbound
// queues that transports read from. It knows nothing of HTTP.
//
// # Delivery model
//
// A Conn is created by Hub.Connect and outlives its transports. Every frame
// routed to a connection is encoded once (a *Frame shared by all receivers)
// and appended to the connection's bounded queue with a per-connection
// sequence number. A transport attaches with Hub.Attach, gets a *Session,
// and reads batches with Session.Next; it detaches when its client goes away.
// Frames that arrive while nothing is attached wait in the queue (they are
// marked catchup). A full queue evicts its oldest frames; when it evicts a
// frame that arrived while the current transport was attached and that the
// transport never took, that transport is ended with DisconnectSlow (catchup
// frames that were already waiting when it attached are evicted without
// ending it). A client that asks for frames older than what is retained
// first gets a gap object naming the lost range.
//
// # Concurrency
//
// Every exported method of Hub and Session is safe for concurrent use.
// Locks guard maps and queues only, and are taken in this fixed order:
//
//	Hub.mu  →  Channel.mu  →  User.mu  →  Conn.mu
//
// Hub.mu (a RWMutex) guards the users, conns and channels maps, channel
// membership, channel configs and user state. Channel.mu guards a channel's
// history, stored frames and last activity; User.mu a user's private frames;
// Conn.mu a connection's queue and its session. No lock is held across I/O,
// and nothing that can block (a channel send is always non-blocking) runs
// under a lock. Mutations collect the presence and state events they cause
// and route them after releasing Hub.mu.
package core
