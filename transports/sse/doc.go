// Package sse is the Server-Sent Events transport: an http.Handler for
// GET /sse?conn_id=<uuid> (PROTOCOL.md §3.1, §3.2).
//
// # The stream
//
// The handler checks conn_id (missing: 422 "Missing data for required
// field."; not a UUID: 422 "Not a valid UUID."), attaches to the connection
// with core.Hub.Attach (unknown: 404, after which EventSource stops
// retrying, as intended; draining: 503 with Retry-After) and answers 200
// with Content-Type: text/event-stream, Cache-Control: no-cache,
// no-transform and X-Accel-Buffering: no. It writes and flushes ":ok" and
// "retry: <Config.Retry in ms>" at once, so that proxies pass the headers
// on before any frame exists.
//
// Each batch that core.Session.Next hands over is one event:
//
//	id: <the session's cursor after the batch, or the seq of its last frame>
//	data: <the JSON list a WebSocket frame carries; compact, one line>
//
// A comment line (": hb") goes out at every heartbeat, every
// Config.HeartbeatInterval (rounded up to a 256th of it, so that those
// of many streams fall together), unless an event went out since the last
// one; like every successful write, it counts as activity on the
// connection.
//
// # Resume
//
// The event id is the per-connection seq or, in a cluster with a data
// plane, the connection's resume cursor after the batch
// (core.Session.Cursor: the seq followed by stream positions, which any
// node can resume from). A reconnecting EventSource sends it back as
// Last-Event-ID (polyfills as the last_event_id or lastEventId query
// parameter); the handler then attaches with Resume (and the cursor as
// core.AttachOptions.Cursor), and the hub replays every retained frame
// after it, preceded by a gap object when some were already lost. Without
// any of these, a cursor query parameter is read the same way: a new
// EventSource cannot set Last-Event-ID, so a client that switches to SSE
// from another transport passes its cursor there. A Last-Event-ID (or
// cursor) that is neither a decimal seq nor a cursor is ignored: the
// stream starts from the queue, never a 400. Frames written to a client
// that was already gone are not lost to a client that resumes: they stay
// retained until a later Last-Event-ID acknowledges them.
//
// # End of a stream
//
// When the hub ends the session (core.Session.Done) the response ends;
// on core.DisconnectShutdown a "retry:" of Config.Retry plus a random delay
// up to Config.ShutdownJitter is written first, to spread the reconnections.
// When the client goes away, or a write does not complete within
// Config.WriteWait, the handler detaches; the connection stays in the hub
// and keeps queueing until the collector removes it.
//
// # Concurrency
//
// A Handler is safe for concurrent use. Each stream has one goroutine, its
// writer, which owns the heartbeat timer and the write deadlines; it
// selects on the session's Ready and Done, the timer and (inside net/http)
// the request's context. On a taken-over socket a write that does not
// block needs no deadline (see transports/internal/writer, shared with the
// WebSocket transport), and published batches are
// written by the handler's pump (transports/pump; core.Session.Notify
// lists the stream when the hub queues a frame for it): one goroutine per
// CPU walks the ready streams in turn and writes each one's batch in one
// non-blocking send, so that a publish to N streams wakes no writer. What
// may wait (the rest of an event that the send buffer did not take,
// heartbeats, the final retry field) is the writer's. The writer and the
// pump take turns under the stream's write lock, so that events leave
// whole and in seq order.
// Batch buffers come from a shared pool, so that an idle stream holds none.
// Active and Wait follow the streams being written, for metrics and for a
// graceful shutdown.
//
// # Taking HTTP/1.x connections over
//
// On HTTP/1.x the handler hijacks the connection once attached, writes the
// response head itself (with whatever middleware put in the header, CORS
// for instance; the body is delimited by closing the connection) and hands
// it to a new goroutine, so that the request's goroutine, its grown stack
// and net/http's read and write buffers go away. That goroutine notices a
// client that left by peeking at the socket at each heartbeat of an idle
// stream (Linux and macOS), or by the next failing write (elsewhere, and
// on a busy stream, whose writes fail soon after the client left). http.Server.Shutdown does
// not see such streams: end them through the hub (Hub.Drain, then
// Hub.EndSessions(core.DisconnectShutdown)) and wait with Handler.Wait. HTTP/2 streams, and every stream with Config.NoHijack,
// stay inside net/http, which cancels the request context when the
// client leaves.
//
// # Plain loop, not r3labs/sse/v2: the measurement
//
// This package writes the stream with its own loop. The alternative,
// github.com/r3labs/sse/v2 v2.10.0's server behind the same handler, was
// built in the tests (r3labs_test.go) with its traps worked around:
// AutoReplay switched off (on by default, its log never shrinks and it
// renumbers ids 0, 1, 2..., which would break Last-Event-ID resume), a
// non-numeric Last-Event-ID stripped (it answers 400), waiting for the
// subscriber before publishing (without the log, earlier events reach
// nobody), ending the subscription with an empty event before removing the
// stream (removing a stream leaks the context-watcher goroutine of each live
// subscriber), heartbeats published from a pump goroutine (it sends none).
// Two traps cannot be worked around from outside: it sets no write
// deadline, so a client that stops reading blocks its stream goroutine,
// then the pump, which then no longer sees the hub end the session; and its
// fixed 64-event subscriber buffer makes the stream goroutine block rather
// than let the hub's bounded queue decide.
//
// BenchmarkIdleMemory holds 2000 idle streams (bare TCP clients in the same
// process) and reports per stream, on linux/amd64 with Go 1.26:
//
//	server                          goroutines  heap     stacks   RSS
//	TCP sockets only (the floor)    0           0.6 KiB  0        0.6 KiB
//	plain loop, taken over          1           2.1 KiB  2.2 KiB  4.6 KiB
//	plain loop inside net/http      2           15 KiB   10 KiB   25 KiB
//	r3labs, BufferSize 16           5           17.5 KiB 16.5 KiB 33 KiB
//	r3labs, default BufferSize 1024 5           27 KiB   17 KiB   36 KiB
//
// Only the plain loop on a taken-over connection meets the 12 KiB budget of
// an idle SSE connection. Inside net/http, its 4 KiB read buffer, 4 KiB + 2
// KiB write buffers and the request goroutine's 8 KiB stack dominate. r3labs
// adds three goroutines and an event channel per stream on top of that.
// BenchmarkFanout publishes to n attached r3labs clients on loopback, up
// to 16 publishes in flight, clients and server sharing 2 CPUs (so the
// latencies include that queueing); medians of 3 runs:
//
//	clients  server                 delivered msgs/s  p50       p99
//	10       plain, taken over      479 k             0.15 ms   2.1 ms
//	10       plain inside net/http  469 k             0.16 ms   2.1 ms
//	10       r3labs                 404 k             0.19 ms   2.0 ms
//	100      plain, taken over      815 k             1.1 ms    5.1 ms
//	100      plain inside net/http  746 k             1.3 ms    6.0 ms
//	100      r3labs                 594 k             1.5 ms    6.5 ms
//	1000     plain, taken over      687 k             18 ms     56 ms
//	1000     plain inside net/http  600 k             21 ms     70 ms
//	1000     r3labs                 425 k             31 ms     84 ms
//
// The plain loop is also the faster: one write per batch, straight from
// the hub's encode-once bytes, where r3labs copies each event through two
// channels and a stream goroutine and formats it with fmt.
package sse
