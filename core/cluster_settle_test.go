package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// faultyLog is a MemoryLog whose next publish appends fail the way a
// network backend's may: the caller is told the append failed without
// proof that the entry was not stored (no core.ErrNotStored).
type faultyLog struct {
	*core.MemoryLog

	mu sync.Mutex
	// mode applies to the next append of a publish entry; then it is
	// cleared, except failAll.
	mode faultMode
	// late holds an entry the backend "still had" when it failed: it is
	// stored right after the next void, as a command served when a
	// stalled backend wakes up.
	late []byte
	// stalled, when not nil, holds back delivery to followers until it is
	// closed.
	stalled chan struct{}
}

type faultMode int

const (
	faultNone faultMode = iota
	faultStoredButFailed
	faultStoredLater
	faultFailAll // every append fails ambiguously from the next publish on
)

var errAmbiguous = fmt.Errorf("connection reset after the command was written: %w", core.ErrUnavailable)

func newFaultyLog() *faultyLog { return &faultyLog{MemoryLog: core.NewMemoryLog()} }

func (l *faultyLog) set(m faultMode) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mode = m
}

// stall holds back delivery to followers until the returned func is called.
func (l *faultyLog) stall() (release func()) {
	ch := make(chan struct{})
	l.mu.Lock()
	l.stalled = ch
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		l.stalled = nil
		l.mu.Unlock()
		close(ch)
	}
}

func (l *faultyLog) Append(ctx context.Context, op []byte) (string, error) {
	l.mu.Lock()
	mode := l.mode
	publish := strings.Contains(string(op), `"k":"publish"`)
	if publish && mode != faultFailAll {
		l.mode = faultNone
	}
	var late []byte
	if strings.Contains(string(op), `"k":"void"`) {
		late, l.late = l.late, nil
	}
	if publish && mode == faultStoredLater {
		l.late = append([]byte(nil), op...)
	}
	l.mu.Unlock()
	defer func() {
		if late != nil {
			if _, err := l.MemoryLog.Append(ctx, late); err != nil {
				panic(err) // the MemoryLog is never down here
			}
		}
	}()
	switch {
	case mode == faultFailAll && (publish || strings.Contains(string(op), `"k":"void"`)):
		return "", errAmbiguous
	case publish && mode == faultStoredButFailed:
		if _, err := l.MemoryLog.Append(ctx, op); err != nil {
			return "", err
		}
		return "", errAmbiguous
	case publish && mode == faultStoredLater:
		return "", errAmbiguous
	}
	return l.MemoryLog.Append(ctx, op)
}

func (l *faultyLog) Follow(ctx context.Context, after string, fn func(core.Entry), onErr func(error)) error {
	return l.MemoryLog.Follow(ctx, after, func(e core.Entry) {
		l.mu.Lock()
		ch := l.stalled
		l.mu.Unlock()
		if ch != nil {
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
		fn(e)
	}, onErr)
}

// TestClusterSettlesUnconfirmedChanges checks that a change whose append
// went unconfirmed is answered with the truth: its result when it was
// stored (and so applied everywhere), a refusal when it was withdrawn
// (and then reaches nobody even though the backend stored it afterwards),
// and ErrOutcomeUnknown only when the log confirms nothing in time.
func TestClusterSettlesUnconfirmedChanges(t *testing.T) {
	setup := func(t *testing.T) (*faultyLog, []*node, [2]*client) {
		log := newFaultyLog()
		nodes := newCluster(t, log, 2, core.Config{ReplicateTimeout: 500 * time.Millisecond})
		return log, nodes, [2]*client{listen(t, nodes[0].Hub, "alice", "c"), listen(t, nodes[1].Hub, "bob", "c")}
	}
	// expectFirst publishes a marker and checks that the first message
	// each listener got is want ("marker" when nothing came before it),
	// and that the nodes agree on everything.
	expectFirst := func(t *testing.T, nodes []*node, cs [2]*client, want string) {
		t.Helper()
		if err := nodes[1].Publish(t.Context(), []core.Message{msg("c", "marker")}); err != nil {
			t.Fatalf("marker: %v", err)
		}
		for i, c := range cs {
			if got := c.waitFor(t, 1, testDeadline)[0].text(); got != want {
				t.Fatalf("node%d's listener first got %q, want %q", i, got, want)
			}
		}
		sameEverywhere(t, nodes)
	}

	t.Run("stored but reported failed: answered as made", func(t *testing.T) {
		log, nodes, cs := setup(t)
		log.set(faultStoredButFailed)
		if err := nodes[0].Publish(t.Context(), []core.Message{msg("c", "stored")}); err != nil {
			t.Fatalf("Publish = %v, want nil: the entry was stored and applied", err)
		}
		expectFirst(t, nodes, cs, "stored")
	})

	t.Run("stored after its void: refused and delivered to nobody", func(t *testing.T) {
		log, nodes, cs := setup(t)
		log.set(faultStoredLater)
		err := nodes[0].Publish(t.Context(), []core.Message{msg("c", "withdrawn")})
		if !errors.Is(err, core.ErrUnavailable) || errors.Is(err, core.ErrOutcomeUnknown) {
			t.Fatalf("Publish = %v, want a refusal (ErrUnavailable)", err)
		}
		expectFirst(t, nodes, cs, "marker") // the refused message reached nobody
	})

	t.Run("applied after the timeout: answered as made", func(t *testing.T) {
		log, nodes, cs := setup(t)
		release := log.stall()
		errc := make(chan error, 1)
		go func() { errc <- nodes[0].Publish(context.Background(), []core.Message{msg("c", "late")}) }()
		// Let the publish outlive ReplicateTimeout, so that it settles.
		select {
		case err := <-errc:
			t.Fatalf("Publish answered %v while the log held it back", err)
		case <-time.After(700 * time.Millisecond):
		}
		release()
		if err := <-errc; err != nil {
			t.Fatalf("Publish = %v, want nil: it was applied before its void", err)
		}
		expectFirst(t, nodes, cs, "late")
	})

	t.Run("nothing confirmed: outcome unknown", func(t *testing.T) {
		log, nodes, _ := setup(t)
		log.set(faultFailAll)
		start := time.Now()
		err := nodes[0].Publish(t.Context(), []core.Message{msg("c", "unknown")})
		if !errors.Is(err, core.ErrOutcomeUnknown) {
			t.Fatalf("Publish = %v, want ErrOutcomeUnknown", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("Publish took %v to give up, want about 2×ReplicateTimeout", d)
		}
		log.set(faultNone)
	})

	t.Run("backend down: refused at once", func(t *testing.T) {
		log, nodes, _ := setup(t)
		log.SetDown(true)
		start := time.Now()
		err := nodes[0].Publish(t.Context(), []core.Message{msg("c", "down")})
		if !errors.Is(err, core.ErrUnavailable) || errors.Is(err, core.ErrOutcomeUnknown) {
			t.Fatalf("Publish = %v, want a refusal", err)
		}
		if d := time.Since(start); d > 400*time.Millisecond {
			t.Fatalf("a certain refusal took %v (settling is for unconfirmed appends only)", d)
		}
		log.SetDown(false)
	})
}

// TestClusterPausedRedisAnswersTheTruth freezes a real redis-server while
// a node publishes, so that the XADD times out after it was written and
// Redis serves it once it wakes up (or not, if the void is served first).
// Whatever the order, the answer must agree with what every node did.
func TestClusterPausedRedisAnswersTheTruth(t *testing.T) {
	// The XADD times out after commandTimeout; settling then lasts
	// replicateTimeout, most of which is left once Redis wakes up.
	const commandTimeout, replicateTimeout = 300 * time.Millisecond, 3 * time.Second
	srv := redistest.Start(t)
	l, err := redisbroker.New(redisbroker.Config{URL: srv.URL(), MaxBackoff: 100 * time.Millisecond, CommandTimeout: commandTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	nodes := newCluster(t, l, 2, core.Config{ReplicateTimeout: replicateTimeout})
	cs := [2]*client{listen(t, nodes[0].Hub, "alice", "c"), listen(t, nodes[1].Hub, "bob", "c")}

	srv.Pause()
	errc := make(chan error, 1)
	go func() { errc <- nodes[0].Publish(context.Background(), []core.Message{msg("c", "paused")}) }()
	select {
	case err := <-errc:
		srv.Resume()
		t.Fatalf("Publish answered %v while Redis was frozen", err)
	case <-time.After(2 * commandTimeout): // past the XADD's timeout: settling
	}
	srv.Resume()
	err = <-errc
	if errors.Is(err, core.ErrOutcomeUnknown) {
		t.Fatalf("Publish = %v: Redis was back within the settling time", err)
	}
	waitUntil(t, testDeadline, "ready", func() bool { return nodes[0].Ready(t.Context()) == nil && nodes[1].Ready(t.Context()) == nil })
	if err := nodes[1].Publish(t.Context(), []core.Message{msg("c", "marker")}); err != nil {
		t.Fatalf("marker: %v", err)
	}
	want := "marker"
	if err == nil {
		want = "paused"
	}
	for i, c := range cs {
		if got := c.waitFor(t, 1, testDeadline)[0].text(); got != want {
			t.Fatalf("node%d's listener first got %q; Publish answered %v", i, got, err)
		}
	}
	t.Logf("Publish answered %v", err)
	sameEverywhere(t, nodes)
}

// TestClusterFixedLimitsAnswerWhileTheLogIsDown checks that a request a
// limit refuses whatever the state is refused with its *LimitError (422)
// before it goes to the log, so also while the log is away; and that the
// refusal changes nothing.
func TestClusterFixedLimitsAnswerWhileTheLogIsDown(t *testing.T) {
	log := core.NewMemoryLog()
	nodes := newCluster(t, log, 1, core.Config{MaxChannelsPerConn: 2, MaxStateKeys: 2})
	h := nodes[0].Hub
	ctx := t.Context()
	c := connect(t, h, "alice", "a")
	before := adminJSON(t, h)
	log.SetDown(true)
	state := core.State{"k1": "v", "k2": "v", "k3": "v"}
	calls := map[string]func() error{
		"connect": func() error {
			_, err := h.Connect(ctx, core.ConnectParams{Username: "bob", Channels: []string{"x", "y", "z"}})
			return err
		},
		"connect state": func() error {
			_, err := h.Connect(ctx, core.ConnectParams{Username: "bob", UserState: state})
			return err
		},
		"subscribe": func() error {
			_, err := h.Subscribe(ctx, core.SubscribeParams{ConnID: c.ID, Channels: []string{"x", "y", "z"}})
			return err
		},
		"user_state": func() error {
			_, err := h.SetUserState(ctx, core.UserStateParams{User: "alice", State: state})
			return err
		},
	}
	for name, call := range calls {
		var limit *core.LimitError
		if err := call(); !errors.As(err, &limit) {
			t.Errorf("%s over a fixed limit with the log down = %v, want a *LimitError", name, err)
		}
	}
	log.SetDown(false)
	waitUntil(t, testDeadline, "ready", func() bool { return h.Ready(ctx) == nil })
	if after := adminJSON(t, h); after != before {
		t.Fatalf("refused requests changed the state:\n%s\n%s", before, after)
	}
}
