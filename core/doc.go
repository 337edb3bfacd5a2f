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
// # Submitting and applying a change
//
// Every change (Connect, Subscribe, Unsubscribe, SetUserState,
// ConfigureChannels, Publish, Disconnect, Collect) has one public method
// that validates and submits it, and one private apply function (apply.go,
// applyPublish in route.go, applyCollect in gc.go) that holds the only copy
// of its logic. The apply function takes what it needs explicitly: the
// time of the change and the source of the ids it makes (nil: random). It
// never calls the public methods.
//
// One node (no Config.Log): the public method calls the apply function
// directly, with the clock's time and random ids; nothing else is in the
// way. Many nodes (Config.Log set): the public method appends an op to the
// log and waits until its own node applied it; every node applies every
// entry, on one goroutine, with the entry's time and ids derived from the
// entry (cluster.go), and the origin answers with what its applying
// returned. Liveness in a cluster travels the same way but per node, not
// per connection: node leases, and holds and releases of connections by
// the node whose transport serves them (lease.go).
//
// # Statistics and latency
//
// Hub.Stats holds the counters (atomics that only ever grow, read without a
// lock) and Hub.Gauges computes the current sizes on demand, visiting every
// connection under Hub.mu held for reading: it is meant for a metrics
// scrape or admin.json, not for the hot path. Neither knows about
// Prometheus; the API package turns them into metrics at scrape time, and
// admin.json's total_messages and total_unique_messages (what the admin
// page charts) are the same Stats.TotalMessages and
// Stats.TotalUniqueMessages.
//
// Publish→write latency: every Frame records when it was encoded (born, an
// int64 of nanoseconds since the hub started, taken from the publish
// time the hub already reads, so monotonic with the default clock). When
// Config.ObserveWrite is set, Session.Next keeps the born times of the
// frames it hands over in a slice the session reuses (it grows only for a
// batch larger than any before; one above 64 frames is released after
// Written), and the transport calls Session.Written after its write
// succeeded: Written adds the frames to Stats.FramesWritten and calls
// ObserveWrite once per frame with now − born, reading the clock once per
// batch. Written runs on the writer goroutine, takes no lock and allocates
// nothing; without ObserveWrite, Next records nothing. Frames that waited
// while nothing was attached (catchup) are measured too, so their latency
// includes the time the client was away.
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
