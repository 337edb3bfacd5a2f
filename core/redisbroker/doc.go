// Package redisbroker keeps channelstream's cluster log (core.Log) and data
// plane (core.DataPlane) in Redis, one server or a Redis Cluster (URL
// redis+cluster://h1:p1,h2:p2,…). Log appends to one Redis stream, follows
// it with XREAD BLOCK, and keeps the newest snapshot next to it; DataPlane
// spreads messages over partitioned streams (see "Data plane" below). It needs Redis 7.0 or later (SET NX GET); the tests
// run Debian's 7.0.
//
// # Key layout
//
// Every key starts with Config.KeyPrefix (default "channelstream:"); the
// Log's keys continue with the hash tag "{ctl}:", so that on a Redis
// Cluster they live in one slot (its scripts and pipelines use several):
//
//	<prefix>{ctl}:log       stream: one entry per Append, one field "op" holding
//	                        the op's bytes; entry ids are Redis stream ids
//	                        ("ms-seq"), which order the log (Log.CompareIDs)
//	<prefix>{ctl}:snapshot  hash: "id" (the entry the snapshot covers up to and
//	                        including) and "state" (its bytes)
//	<prefix>{ctl}:epoch     string: a random token naming the current life of the
//	                        data set (see Redis restarts below)
//	<prefix>{ctl}:stats     hash and sorted set (…:stats:ids) of the stats board
//	                        (Log.StatsBoard): the cluster's message totals
//
// No key has a TTL; do not run the Log on a Redis whose maxmemory-policy may
// evict them.
//
// # Operations
//
// Append is one XADD with an id Redis chooses, so entries are ordered by the
// server and every Append's id is greater than every id stored before it
// (MAXLEN ~ Config.MaxLen when set). Commands are never retried by the
// client: a retried XADD whose first try did reach Redis would store the op
// twice. A timeout may still leave an entry stored, or Redis may store it
// later (a frozen server serves the command when it wakes up); core.Log
// allows it, and the hub settles such a change with a void entry. An
// Append that certainly stored nothing (no connection could be opened or
// taken from the pool, or Redis answered with an error) wraps
// core.ErrNotStored.
//
// SaveSnapshot runs one Lua script that stores the snapshot and trims the
// entries up to and including its id (XTRIM MINID), atomically. It keeps the
// snapshot with the greatest id: an older one saved later is ignored,
// because the entries it would need are gone. It refuses an id the stream
// never reached.
//
// Follow opens a client of its own with one connection (a blocked XREAD
// holds its connection) and loops: a pipeline of GET epoch and
// XREAD BLOCK Config.BlockTimeout COUNT Config.ReadCount from the last id it
// delivered, then fn for each entry. Cancelling its ctx, or Close, closes
// that client, which ends a blocked read at once. While Redis cannot be
// reached, it calls onErr with each failure (errors wrapping
// core.ErrUnavailable), waits from Config.MaxBackoff/20 doubling up to
// Config.MaxBackoff, and tries again from the same id.
//
// # Redis restarts
//
// Redis run without persistence comes back empty. The stream is then a new
// one: new ids come from the clock, so they are normally greater than what a
// follower delivered, but not always (a clock step back, a follower ahead
// because of an entry with a far id), and an XREAD from the old position
// would skip new entries at or before it. So a follower does not rely on
// the ids: the epoch key names the life of the data set. Follow learns it
// when it starts (SET NX GET: whoever comes first after an empty start
// writes a token no Log has used before) and reads it again in every
// pipeline, just before XREAD on the same connection; a restart breaks that
// connection, so both replies always come from the same life of the server.
// When the epoch differs from the one it knows (or is gone), the follower
// drops the XREAD result, logs a warning, learns the new epoch and follows
// the new stream from its start ("0-0"): every entry appended after the
// restart is delivered, in order, once. Append does not touch the epoch:
// entries appended to the new stream before any follower wrote the new
// epoch are read from "0-0" all the same.
//
// Entries the old stream held and a follower had not read yet are lost with
// it, and so is the snapshot; what the nodes should do about that (rebuild
// from one node's state, for instance) is the hub's business: the Log only
// guarantees that no entry of the new stream is skipped or repeated. The same
// holds after FLUSHDB/FLUSHALL, except that a flush while a follower is
// blocked in XREAD may make it deliver new entries both before and after it
// notices the new epoch (a restart cannot do that: it breaks the
// connection).
//
// # Data plane
//
// DataPlane's keys belong to partitions (Config.Partitions, default 16;
// core.PartitionOf picks a stream's). Partition k's keys carry the hash tag
// of k, the first "p<k>-<j>" whose slot falls in the k-th of Partitions
// equal slot ranges, so with a cluster's default slot ranges the partitions
// spread evenly over the masters; every key of one partition lives in one
// slot (on a database other than 0, redis://host/<db>, <prefix> goes on
// with "db<db>:", because the shard channels are named like the keys and
// pub/sub knows no databases: nodes on two databases of one server would
// hear each other's entries):
//
//	<prefix>{tag}:ctr        hash: n (the partition's counter), ep (its epoch)
//	<prefix>{tag}:c:<name>   stream of a channel: field d = the entry's data,
//	                         id "<n>-<ms>"
//	<prefix>{tag}:u:<name>   stream of a user (private messages without channel)
//	<prefix>{tag}:h:<name>   list: a channel's history, "<uuid>\n<fields>"
//	<prefix>{tag}:p          shard channel every subscription of the
//	                         partition holds (it routes the connection)
//	<prefix>{tag}:k:<conn>   string: a connection's hand-over cursor
//	                         (SaveCursor; partition of a channel named
//	                         like the connection id), with a TTL
//
// Publish runs one Lua script per partition it touches (EVALSHA, never
// retried after a network error or timeout; the partitions at the same
// time): per entry HINCRBY n, XADD with id "<n>-<ms>" (the server's clock),
// a trim of the entries beyond Config.StreamMaxLen, on every 8th n a trim
// of the entries older than Config.StreamMaxAge, XSETID MAXDELETEDID with
// the newest entry a trim removed (Redis records only XDEL's), PEXPIRE of
// the stream to that age, the history effect (RPUSH+LTRIM, or an edit or delete found by uuid), and
// SPUBLISH "<n>:<epoch>:<ms>:<data>" on the shard channel named like the
// stream. The commands a publish runs are the same whatever the number of
// subscribers: Redis sends one message per subscribed connection, and a
// node has one per master. A partition's epoch is a random number the
// first script to find none sets: a Redis that came back empty has new
// epochs, which positions carry. Read is one script too: XINFO STREAM tells
// whether entries were trimmed (entries-added above length) and the newest
// one trimmed (max-deleted-entry-id; for a stream trimmed by a version that
// did not record it, anything before the first entry kept), so Trimmed is
// exact: a read after the newest entry trimmed lost none, even when entries
// of other streams of the partition came between; XRANGE reads.
//
// A Subscriber holds one sharded pub/sub connection (go-redis PubSub) per
// master that holds partitions it has streams of (one on one server), read
// by one goroutine that also calls fn: messages of every partition of that
// master share its reads, so a burst costs one wake-up. Each partition is
// one SSUBSCRIBE of its anchor channel first and its streams (the channels
// of one command share a slot; a ClusterClient opens the connection to the
// master of the first channel's slot). After a broken connection it finds
// each partition's master again (a partition whose slot moved goes to the
// connection to its new master, which reconnects to take it), opens a new
// one, waits until every partition's SSUBSCRIBE took effect (its first
// reply; messages of partitions already subscribed wait meanwhile), reads
// each referenced stream of the partitions subscribed before after the
// last entry delivered up to the head the first read saw (a goroutine per
// partition), delivers in N order, then goes on with live entries,
// dropping those not after the last delivered. A write that fails (SSUBSCRIBE
// or SUNSUBSCRIBE of Add and Remove) closes the connection, since go-redis
// may have replaced it silently. After Config.BlockTimeout of silence it
// sends PING and gives the connection up when nothing answers within
// another BlockTimeout.
//
// # Errors
//
// Every error from an unreachable Redis (connection refused or reset, a
// timeout, an I/O error, LOADING, MASTERDOWN, READONLY, OOM and the like)
// wraps core.ErrUnavailable, behind a "doing what" prefix. Error replies
// that mean a bug or a misconfiguration (WRONGTYPE, NOAUTH…) do not, nor
// does the cancellation of the caller's ctx, nor a call on a closed Log.
// Each call is bounded by the caller's ctx deadline and by
// Config.CommandTimeout.
//
// # Concurrency
//
// Every method of Log is safe for concurrent use. Append, SaveSnapshot,
// LoadSnapshot and Ping share one go-redis client (a pool); each Follow
// call has its own client and calls fn from the goroutine that called
// Follow, one entry at a time; fn must return quickly. Close ends every Follow (they return nil) without waiting for them.
package redisbroker
