package longpoll

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// kindCounter is a cluster log that counts the hold and release entries.
type kindCounter struct {
	core.Log
	mu    sync.Mutex
	kinds map[string]int
}

func (l *kindCounter) Append(ctx context.Context, op []byte) (string, error) {
	l.mu.Lock()
	for _, k := range []string{"hold", "release"} {
		if bytes.Contains(op, []byte(`"k":"`+k+`"`)) {
			l.kinds[k]++
		}
	}
	l.mu.Unlock()
	return l.Log.Append(ctx, op)
}

func (l *kindCounter) count(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.kinds[kind]
}

// TestClusterPollsAppendNoEntryEach: on a clustered hub the node keeps
// holding a long-poll connection between polls, so a client polling again
// and again appends one hold and no release to the cluster's log.
func TestClusterPollsAppendNoEntryEach(t *testing.T) {
	log := &kindCounter{Log: core.NewMemoryLog(), kinds: map[string]int{}}
	e := newEnv(t, core.Config{Log: log, ConnTimeout: 10 * time.Second}, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.hub.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 10*time.Second, "the hub ready", func() bool { return e.hub.Ready(context.Background()) == nil })

	id := e.connect(t, "alice", "c")
	const polls = 10
	for i := range polls {
		e.publish("c", "m")
		if got := frames(t, e.poll(t, id, nil)); len(got) == 0 {
			t.Fatalf("poll %d answered nothing", i)
		}
	}
	// The hold is appended asynchronously, soon after the first attach.
	waitFor(t, 10*time.Second, "the hold", func() bool { return log.count("hold") > 0 })
	if holds, releases := log.count("hold"), log.count("release"); holds != 1 || releases != 0 {
		t.Fatalf("%d polls appended %d holds and %d releases, want 1 and 0", polls, holds, releases)
	}
}
