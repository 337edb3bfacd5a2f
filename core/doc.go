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
// # Data-plane mode
//
// With Config.Log and Config.DataPlane both set, the log carries only the
// rare changes (connect, subscribe, unsubscribe, user state, channel
// config, disconnect, collection, leases, holds, releases); messages and
// the presence and state frames travel through the DataPlane's streams (a
// channel's, a user's), and every node still applies every log entry, so
// it knows every user, connection and channel. What follows the sockets:
//
//   - Publish: the node that takes it encodes each frame once, with a
//     small routing header (dataplane_entry.go), and publishes it with its
//     history effect (dataplane_publish.go). Presence and state frames are
//     made while applying and published by the change's origin only.
//   - Join points: the origin reads the heads of the streams a connect or
//     subscribe adds and puts them in the op; entries at or before them
//     never reach the connection, on any node.
//   - Holder: only the node a transport attached to (or lingers on) keeps
//     the connection's queue, seq and session, indexes it by stream and
//     takes Subscriber references for its streams (dataplane_holder.go,
//     dataplane_route.go): a node that holds nothing receives nothing.
//     Its per-partition positions make the resume cursor (Cursor,
//     Session.Cursor, the "cursor" key on the last object of each list
//     Next returns, the release mark's cursor).
//   - Attach: the new holder catches the connection up from the client's
//     cursor, the last release's, or the join points, reading the streams
//     while buffering their live entries (dataplane_attach.go); seq goes
//     on from the cursor's. Lost entries come as a gap frame of its own
//     seq: {"type":"gap","from_seq":s,"to_seq":s}.
//
// Streams are ordered per partition, not with each other: a private
// message and a channel message published one after the other may arrive
// in either order.
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
// Stats.TotalUniqueMessages; in data-plane mode, where each node counts only
// its own work, they are the sums Config.StatsBoard keeps.
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
// In data-plane mode the node's index of held connections by stream has a
// lock of its own (dpNode.mu), a leaf: nothing else is locked while it is
// held. Subscriber calls and DataPlane reads are made without locks, off
// the log's applying goroutine (a worker of the node takes the calls that
// applying causes).
//
// Hub.mu (a RWMutex) guards the users, conns and channels maps, channel
// membership, channel configs and user state. Channel.mu guards a channel's
// history, stored frames and last activity; User.mu a user's private frames;
// Conn.mu a connection's queue and its session. No lock is held across I/O,
// and nothing that can block (a channel send is always non-blocking) runs
// under a lock. Mutations collect the presence and state events they cause
// and route them after releasing Hub.mu.
package core
