// Package longpoll serves GET /listen, channelstream's long-poll transport.
//
// Each request attaches to an existing connection (created by POST
// /connect) with core.Hub.Attach, waits up to Config.Timeout for the first
// frame, keeps gathering until Config.Gather passes without a new one (at
// most 3 × Gather after the oldest frame, see Spread; both count from when
// the frames were published, so frames queued between two polls do not
// wait again for the next one), and answers with one JSON list of the
// frames (every object carries its per-connection "seq"), or "cb(<list>)"
// for a valid JSONP callback. Then it detaches. The connection keeps its
// one bounded queue between polls, so nothing queued while no poll is
// pending is lost: those frames come on the next poll marked
// "catchup": true.
//
// # Acknowledgement
//
// Without last_seq, a response written without error counts as delivered
// (upstream semantics). With last_seq=N, the request acknowledges every
// frame up to N and answers what follows, so a client that lost a response
// gets it again with neither loss nor duplicates; when N is older than what
// the connection retained, the list starts with
// {"type":"gap","from_seq":a,"to_seq":b}.
//
// cursor=C (a resume cursor, core.Cursor; the "cursor" key of the last
// object of an answer in a cluster with a data plane) acknowledges as
// last_seq=<C's seq> does, and lets any node of the cluster resume the
// connection exactly after that frame (core.AttachOptions.Cursor). With
// both, they must name the same seq (else 400); a cursor that
// core.ParseCursor refuses is 422 {"cursor":["Not a valid resume cursor."]}.
//
// # Concurrency
//
// A Handler is safe for concurrent use. An HTTP/1.x poll's connection is
// taken over from net/http once the poll is attached (held.go): while it
// waits it holds no net/http goroutine, buffers or request state, only one
// goroutine parked in a read of the socket, as an idle socket holds, which
// notices a client that leaves; frames, the session's end and Shutdown
// move the socket's read deadline to cut that read short. That goroutine
// then writes the answer (head and body in one write) and reads the
// client's next request on that kept-alive connection itself (follow.go),
// with the server's idle and header timeouts: a plain follow-up poll (GET
// /listen over HTTP/1.1, no body, no Upgrade, Expect or Connection but
// keep-alive, a head of at most 4 KiB, not over TLS) goes through the
// server's own handler, its whole middleware chain, on a request built
// there, and waits on the same goroutine; anything else, and every
// connection once Shutdown was called, goes back to the http.Server that
// read the poll (handback.go) with the bytes already read, and that server
// reads it as any kept-alive connection. HTTP/2 polls, and ResponseWriters
// that cannot be hijacked, wait on the request's goroutine instead. Either
// way one goroutine writes the answer, holding no lock while waiting or
// writing. A newer poll for
// the same connection replaces the older one in the hub, which ends the
// older session: the older request answers at once (usually "[]") and the
// newer one gets the frames. Shutdown makes every waiting poll answer at
// once and refuses new ones with 503.
//
// # Spread
//
// Each poll's quiet gap is Gather plus a random share of up to Gather/8,
// and its gathering's cap is 3 × Gather less a random share of up to half
// a Gather, both drawn per poll, so that after a message to many
// connections their answers, and the re-polls that follow, come due over
// a while instead of in one instant, and drift apart under a steady
// stream.
package longpoll
