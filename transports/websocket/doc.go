// Package websocket is the WebSocket transport of channelstream:
// GET /ws?conn_id=<uuid>[&last_seq=N][&cursor=C] attaches a socket to a connection of a
// core.Hub and moves the hub's frames to the client.
//
// # Wire behaviour
//
//   - The query is checked before the upgrade: a missing or non-UUID conn_id,
//     a last_seq that is not a non-negative integer, or a cursor that
//     core.ParseCursor refuses, is answered 422 with the marshmallow-style
//     body {"conn_id": ["Not a valid UUID."]}; a cursor and a last_seq that
//     name different seqs, and a GET that is not a WebSocket handshake, are
//     answered 400 {"error": "..."}.
//   - An unknown conn_id is upgraded and then closed at once with 1000
//     "unknown connection" (upstream behaviour); a draining hub or a handler
//     that shuts down closes with 1012 "service restart".
//   - Every server frame is a text frame holding one JSON list: a batch of
//     queued frames as Session.Next builds it (each object carries "seq"), or
//     the heartbeat []. Heartbeats come every Config.HeartbeatInterval
//     (rounded up to one of writer.PingSlots moments of it, so that those
//     of many idle sockets fall together; while frames flow, each socket's
//     waits for its own sixteenth of the moment, writer.Spread, so that they
//     do not hold up deliveries all at once): a ping, preceded by [] unless
//     a batch went out since the last heartbeat (the client has had bytes
//     then).
//     Catch-up frames queued while no transport was attached come first and
//     carry "catchup": true; upstream sent them one per frame, we batch them,
//     which every client that iterates the list already handles.
//   - With last_seq=N the socket resumes after N (core.AttachOptions.Resume):
//     no loss and no duplicates, or a gap object when N is older than what the
//     connection retains. cursor=C (a resume cursor, core.Cursor: in a
//     cluster with a data plane, the "cursor" key of the last object of a
//     batch) resumes after its seq likewise, and lets any node of the
//     cluster resume exactly after that frame (core.AttachOptions.Cursor).
//   - Any client data frame (text or binary, content ignored) counts as
//     activity; so does every successful server write. A client not heard
//     from (no pong, no data frame) for longer than Config.PongWait is cut
//     at the next heartbeat.
//   - A client that closes first with 1000, 1001 or a close frame without a
//     code has left: once its socket ends the connection is removed at once
//     (core.Session.Leave, as /disconnect does), so the others see "parted"
//     within a second, as upstream. Any other code (4000-4999 in particular;
//     channelstream.js sends 4001 when it reconnects or switches transport),
//     a close frame answering the server's, and a socket that drops without
//     a close frame keep the connection for resume until the collector's
//     conn_timeout.
//   - When the hub ends the session, the socket is closed with the reason's
//     code: 1000 for a connection removed by /disconnect or the collector,
//     4000 when a newer socket replaced this one (the connection survives and
//     the new socket carries on), 1008 for a slow consumer whose queue
//     overflowed (logged at warn; the hub counts it), 1012 at shutdown.
//
// # Concurrency contract
//
// A Handler is safe for concurrent use by any number of requests. ServeHTTP
// returns as soon as the socket is attached; from then on each socket has
// exactly two goroutines and one timer, and the handler has a pump
// (transports/pump) that writes published frames:
//
//   - the pump is the handler's list of sockets with frames waiting, in the
//     order they became ready (core.Session.Notify lists a socket when the
//     hub queues a frame for it), and up to GOMAXPROCS goroutines that
//     exist while the list is not empty. Each takes a socket, and, when its
//     writer is not at work, writes what waits in one non-blocking send
//     and moves on. A publish to N sockets thus costs one wake-up instead
//     of N, and under load every socket is served in turn, each send
//     carrying what queued up since its last one. The pump never waits: a
//     socket whose writer holds its write lock, or whose send buffer is
//     full (the unsent rest of the batch is kept), or whose write failed,
//     is handed to its writer (core.Session.Signal).
//   - the writer writes everything else and everything that may wait: the
//     frames the pump handed over (the rest of a batch first, under a write
//     deadline), heartbeats and pings, and the close frame. It selects on
//     Session.Ready (write one batch), the heartbeat timer (cut a silent
//     client, or write what the heartbeat owes), Session.Done (the hub
//     ended the session: send the close frame, wait up to closeGrace for
//     the client's echo, close; or the reader detached it: just close) and
//     the handler's shutdown. The writer and the pump take turns under the
//     socket's write lock (transports/internal/writer.Stream, shared with
//     the SSE transport), so that frames leave whole and in
//     seq order. Session.Touch follows every successful write. When the
//     writer returns it calls Session.Detach (a no-op when the hub ended
//     the session) and closes the network connection, which also stops the
//     reader.
//   - the reader discards client frames, touches the session for each and
//     notes when the client was last heard from (pongs included); it sets
//     no read deadline. The pongs that answer the heartbeat pings are
//     taken out of the stream under gorilla (pongscan.go), so that an idle
//     socket's reader never leaves the poller's read: one read(2) per pong,
//     no frame parsing. When reading fails (client gone, close frame, cut
//     by the writer, oversized frame) it closes the network connection, so
//     that a writer blocked on a dead peer returns at once, then calls
//     Session.Detach, which wakes the writer. The reader answers a client's
//     ping (pong) and close frame (echo) like gorilla's default handlers,
//     but under the socket's write lock, after any unsent rest of a batch:
//     never inside a data frame, and never holding the connection's write
//     lock where the pump would block on it.
//
// The writer frames its own writes (wire.go): a batch is appended by
// Session.Next behind room for the frame header, and leaves in one system
// call, without a copy and, unless the socket's send buffer is full,
// without a write deadline; a heartbeat's [] and ping leave together. gorilla only reads, and
// writes control frames; the net package's write lock keeps each frame
// whole. The connection gorilla reads from reads the socket with read(2)
// directly (sockconn.go), which keeps the reader's parked stack small. The
// socket is non-blocking, so those reads and sends are raw system calls
// (read_linux.go, transports/internal/writer): the goroutine keeps its P, and the runtime's monitor
// (sysmon) is neither kept awake nor handing the P to another thread.
//
// Returning from ServeHTTP lets net/http free its per-request state (the
// serving goroutine's stack, its bufio buffers): an idle attached socket keeps
// only the gorilla Conn with a small read buffer, two parked goroutines on
// the smallest stacks (2 KiB each), one timer and the session. Batch
// buffers come from a shared pool and are held only while a write is in
// progress.
//
// Shutdown closes every open socket with 1012 at a random moment of
// Config.ShutdownWindow and waits until all are gone.
package websocket
