package redisbroker

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
)

var _ core.DataPlane = (*DataPlane)(nil)

// DataPlane is a core.DataPlane kept in Redis (one server or a Redis
// Cluster): see the package doc for the key layout and the scripts. Every
// method is safe for concurrent use.
type DataPlane struct {
	cfg   Config
	rdb   redis.UniversalClient // publish, read, history, ping; each Subscriber has its own
	parts []partKeys

	life    context.Context // ends when Close is called
	endLife context.CancelFunc

	batch publishQueue // Publish calls waiting for the batch in flight
}

// partKeys are the names of one partition's keys.
type partKeys struct {
	prefix string // <KeyPrefix>{<tag>}:
	ctr    string // hash: n (the counter), ep (the epoch)
	anchor string // shard channel each partition's subscription keeps
}

func (k partKeys) stream(s core.Stream) string {
	if s.Kind == core.UserStream {
		return k.prefix + "u:" + s.Name
	}
	return k.prefix + "c:" + s.Name
}

func (k partKeys) history(channel string) string { return k.prefix + "h:" + channel }

func (k partKeys) cursor(connID string) string { return k.prefix + "k:" + connID }

// NewDataPlane returns a DataPlane that talks to the Redis at cfg.URL. It
// does not connect: the first call does, and Ping tells whether Redis
// answers. It fails only on a malformed configuration.
func NewDataPlane(cfg Config) (*DataPlane, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("new redis data plane: %w", err)
	}
	rdb, err := cfg.newClient(clientConfig{readTimeout: cfg.CommandTimeout})
	if err != nil {
		return nil, fmt.Errorf("new redis data plane: %w", err)
	}
	return newDataPlane(cfg, rdb), nil
}

// DataPlane returns a DataPlane with l's Config that shares l's client
// (its connections to Redis): a node's control and data planes then hold
// one pool. Closing either closes the shared connections, so close both
// once neither is used any more (the second Close does nothing more).
func (l *Log) DataPlane() *DataPlane { return newDataPlane(l.cfg, l.rdb) }

// newDataPlane returns a DataPlane on rdb; cfg has its defaults and was
// checked.
func newDataPlane(cfg Config, rdb redis.UniversalClient) *DataPlane {
	d := &DataPlane{cfg: cfg, rdb: rdb}
	base := cfg.KeyPrefix
	if c, ok := rdb.(*redis.Client); ok && c.Options().DB != 0 {
		// Pub/sub knows no databases: name the shard channels (named
		// like the keys) after the database too.
		base += "db" + strconv.Itoa(c.Options().DB) + ":"
	}
	for _, tag := range partitionTags(cfg.Partitions) {
		prefix := base + "{" + tag + "}:"
		d.parts = append(d.parts, partKeys{prefix: prefix, ctr: prefix + "ctr", anchor: prefix + "p"})
	}
	d.life, d.endLife = context.WithCancel(context.Background())
	return d
}

// Close closes the connections and every Subscriber (without waiting for
// them); calls made afterwards fail. Calling it again does nothing.
func (d *DataPlane) Close() error {
	d.endLife()
	err := d.rdb.Close()
	if errors.Is(err, redis.ErrClosed) {
		return nil
	}
	return err
}

// Partitions implements core.DataPlane.
func (d *DataPlane) Partitions() int { return len(d.parts) }

// Partition implements core.DataPlane.
func (d *DataPlane) Partition(s core.Stream) int { return core.PartitionOf(s, len(d.parts)) }

// script is a Lua script run with EVALSHA, falling back to EVAL when the
// server does not have it, never retried after the command was sent.
type script struct {
	src, sha string
}

func newScript(src string) script {
	sum := sha1.Sum([]byte(src))
	return script{src: src, sha: hex.EncodeToString(sum[:])}
}

var (
	publishLua = newScript(publishScript)
	headLua    = newScript(headScript)
	readLua    = newScript(readScript)
)

// run runs s with keys and args and returns its reply.
func (s script) run(ctx context.Context, rdb redis.UniversalClient, keys []string, args ...any) (any, error) {
	call := func(cmd, body string) (any, error) {
		a := make([]any, 0, 3+len(keys)+len(args))
		a = append(a, cmd, body, len(keys))
		for _, k := range keys {
			a = append(a, k)
		}
		c := noRetryCmd{redis.NewCmd(ctx, append(a, args...)...)}
		_ = rdb.Process(ctx, c)
		return c.Result()
	}
	v, err := call("evalsha", s.sha)
	if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		v, err = call("eval", s.src) // NOSCRIPT: nothing was run
	}
	return v, err
}

// epochCandidate is a random epoch (1 … 2^32-1) offered to a partition
// that has none yet.
func epochCandidate() string { return strconv.FormatUint(uint64(rand.Uint32N(1<<32-1))+1, 10) }

// partitionGroup is the indexes of the items of one partition.
type partitionGroup struct {
	k   int
	idx []int
}

// byPartition groups the indexes 0…n-1 by partitionOf, in the order of
// each partition's first item.
func byPartition(n int, partitionOf func(i int) int) []partitionGroup {
	var groups []partitionGroup
	at := map[int]int{} // partition -> index in groups
	for i := range n {
		k := partitionOf(i)
		g, ok := at[k]
		if !ok {
			g = len(groups)
			at[k] = g
			groups = append(groups, partitionGroup{k: k})
		}
		groups[g].idx = append(groups[g].idx, i)
	}
	return groups
}

// eachPartition calls fn for each group, at the same time when there are
// several (each call is one round trip, to whichever master holds the
// partition), and returns their errors, by group.
func eachPartition(groups []partitionGroup, fn func(k int, idx []int) error) []error {
	errs := make([]error, len(groups))
	if len(groups) == 1 {
		errs[0] = fn(groups[0].k, groups[0].idx)
		return errs
	}
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() { errs[i] = fn(g.k, g.idx) })
	}
	wg.Wait()
	return errs
}

func parseEpoch(v any) (uint32, error) {
	s, _ := v.(string)
	ep, err := strconv.ParseUint(s, 10, 32)
	if err != nil || ep == 0 {
		return 0, fmt.Errorf("bad partition epoch %v", v)
	}
	return uint32(ep), nil
}

// Heads implements core.DataPlane: one head script call per partition,
// the partitions at the same time.
func (d *DataPlane) Heads(ctx context.Context, streams []core.Stream) ([]core.Pos, error) {
	out := make([]core.Pos, len(streams))
	groups := byPartition(len(streams), func(i int) int { return d.Partition(streams[i]) })
	errs := eachPartition(groups, func(k int, idx []int) error {
		p, err := d.head(ctx, k)
		for _, i := range idx {
			out[i] = p
		}
		return err
	})
	if err := errors.Join(errs...); err != nil {
		return nil, wrap(ctx, "heads", err)
	}
	return out, nil
}

func (d *DataPlane) head(ctx context.Context, k int) (core.Pos, error) {
	v, err := headLua.run(ctx, d.rdb, []string{d.parts[k].ctr}, epochCandidate())
	if err != nil {
		return core.Pos{}, err
	}
	r, ok := v.([]any)
	if !ok || len(r) != 2 {
		return core.Pos{}, fmt.Errorf("head script answered %v", v)
	}
	ep, err := parseEpoch(r[0])
	if err != nil {
		return core.Pos{}, err
	}
	n, _ := r[1].(int64)
	return core.Pos{Partition: k, N: uint64(n), Epoch: ep}, nil
}

// Read implements core.DataPlane: one read script call (XINFO STREAM for
// the trimmed mark, XRANGE for the entries).
func (d *DataPlane) Read(ctx context.Context, s core.Stream, after core.Pos, limit int) (core.ReadResult, error) {
	k := d.Partition(s)
	pk := d.parts[k]
	v, err := readLua.run(ctx, d.rdb, []string{pk.ctr, pk.stream(s)},
		after.N, after.Epoch, max(limit, 0), epochCandidate())
	if err != nil {
		return core.ReadResult{}, wrap(ctx, "read "+s.String(), err)
	}
	res, err := parseRead(s, k, v)
	if err != nil {
		return core.ReadResult{}, fmt.Errorf("read %v: %w", s, err)
	}
	return res, nil
}

// parseRead decodes the read script's reply.
func parseRead(s core.Stream, k int, v any) (core.ReadResult, error) {
	r, ok := v.([]any)
	if !ok || len(r) < 5 || len(r)%2 != 1 {
		return core.ReadResult{}, fmt.Errorf("read script answered %v", v)
	}
	ep, err := parseEpoch(r[0])
	if err != nil {
		return core.ReadResult{}, err
	}
	head, _ := r[1].(int64)
	flag := func(v any) bool { n, _ := v.(int64); return n == 1 }
	res := core.ReadResult{
		Head:    core.Pos{Partition: k, N: uint64(head), Epoch: ep},
		Reset:   flag(r[2]),
		Trimmed: flag(r[3]),
		More:    flag(r[4]),
	}
	for i := 5; i < len(r); i += 2 {
		id, _ := r[i].(string)
		data, _ := r[i+1].(string)
		sid, err := parseID(id)
		if err != nil {
			return core.ReadResult{}, err
		}
		res.Entries = append(res.Entries, core.StreamEntry{
			Stream: s,
			Pos:    core.Pos{Partition: k, N: sid.ms, Epoch: ep},
			Time:   time.UnixMilli(int64(sid.seq)),
			Data:   []byte(data),
		})
	}
	return res, nil
}

// History implements core.DataPlane: one LRANGE.
func (d *DataPlane) History(ctx context.Context, channel string) ([]core.HistoryEntry, error) {
	list, err := d.rdb.LRange(ctx, d.historyKey(channel), 0, -1).Result()
	if err != nil {
		return nil, wrap(ctx, "history of "+channelStream(channel).String(), err)
	}
	return parseHistory(channel, list)
}

// Histories implements core.DataPlane: one LRANGE per channel, all in one
// pipeline. On a Redis Cluster the client splits the pipeline by the
// master that serves each key's slot (the slot of its partition's hash
// tag) and sends the parts at the same time, following MOVED and ASK
// redirects: one round trip per master, whatever the number of channels.
func (d *DataPlane) Histories(ctx context.Context, channels []string) ([][]core.HistoryEntry, error) {
	if len(channels) == 0 {
		return [][]core.HistoryEntry{}, nil
	}
	pipe := d.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(channels))
	for i, ch := range channels {
		cmds[i] = pipe.LRange(ctx, d.historyKey(ch), 0, -1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap(ctx, fmt.Sprintf("histories of %d channels", len(channels)), err)
	}
	out := make([][]core.HistoryEntry, len(channels))
	for i, c := range cmds {
		list, err := parseHistory(channels[i], c.Val())
		if err != nil {
			return nil, err
		}
		out[i] = list
	}
	return out, nil
}

func channelStream(name string) core.Stream { return core.Stream{Kind: core.ChannelStream, Name: name} }

// historyKey is the key of channel's history list.
func (d *DataPlane) historyKey(channel string) string {
	return d.parts[d.Partition(channelStream(channel))].history(channel)
}

// parseHistory decodes the elements of channel's history list (nil when
// there are none).
func parseHistory(channel string, list []string) ([]core.HistoryEntry, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]core.HistoryEntry, 0, len(list))
	for _, el := range list {
		id, enc, ok := strings.Cut(el, "\n")
		if !ok {
			return nil, fmt.Errorf("history of %v: malformed entry %q", channelStream(channel), el)
		}
		f, err := decodeFields(enc)
		if err != nil {
			return nil, fmt.Errorf("history of %v: %w", channelStream(channel), err)
		}
		out = append(out, core.HistoryEntry{ID: id, Fields: f})
	}
	return out, nil
}

// DeleteHistory implements core.DataPlane: one DEL.
func (d *DataPlane) DeleteHistory(ctx context.Context, channel string) error {
	return wrap(ctx, "delete history of "+channelStream(channel).String(), d.rdb.Del(ctx, d.historyKey(channel)).Err())
}

// Ping implements core.DataPlane: PING on one server, or on every master
// of a cluster.
func (d *DataPlane) Ping(ctx context.Context) error {
	if c, ok := d.rdb.(*redis.ClusterClient); ok {
		err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			return m.Ping(ctx).Err()
		})
		return wrap(ctx, "ping redis cluster", err)
	}
	return wrap(ctx, "ping redis", d.rdb.Ping(ctx).Err())
}

// cursorKey is connID's hand-over cursor key, in the partition
// core.PartitionOf gives a channel named like the connection.
func (d *DataPlane) cursorKey(connID string) string {
	return d.parts[d.Partition(core.Stream{Name: connID})].cursor(connID)
}

// SaveCursor implements core.DataPlane: SET PX.
func (d *DataPlane) SaveCursor(ctx context.Context, connID string, cursor []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("save cursor of %q: ttl %v", connID, ttl)
	}
	return wrap(ctx, "save cursor of "+strconv.Quote(connID), d.rdb.Set(ctx, d.cursorKey(connID), cursor, ttl).Err())
}

// LoadCursor implements core.DataPlane: GET.
func (d *DataPlane) LoadCursor(ctx context.Context, connID string) ([]byte, error) {
	b, err := d.rdb.Get(ctx, d.cursorKey(connID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(ctx, "load cursor of "+strconv.Quote(connID), err)
	}
	return b, nil
}

// encodeFields encodes history fields as the scripts read them: per
// field "<len>:<key><len>:<value>".
func encodeFields(f map[string]json.RawMessage) string {
	var b strings.Builder
	for k, v := range f {
		b.WriteString(strconv.Itoa(len(k)))
		b.WriteByte(':')
		b.WriteString(k)
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.Write(v)
	}
	return b.String()
}

// decodeFields is the inverse of encodeFields.
func decodeFields(s string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	next := func() (string, error) {
		n, rest, ok := strings.Cut(s, ":")
		size, err := strconv.Atoi(n)
		if !ok || err != nil || size < 0 || size > len(rest) {
			return "", fmt.Errorf("malformed history fields at %q", s)
		}
		s = rest[size:]
		return rest[:size], nil
	}
	for s != "" {
		k, err := next()
		if err != nil {
			return nil, err
		}
		v, err := next()
		if err != nil {
			return nil, err
		}
		out[k] = json.RawMessage(v)
	}
	return out, nil
}
