package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// t0 is the fake clock's start: a whole second, so FormatTime leaves out
// the microseconds.
var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newHub returns a hub on a fake clock starting at t0 (unless cfg.Now is set).
func newHub(t testing.TB, cfg core.Config) (*core.Hub, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	return core.New(cfg), clk
}

// frame is one decoded object of a Next batch.
type frame map[string]any

func (f frame) str(key string) string {
	s, _ := f[key].(string)
	return s
}

func (f frame) num(key string) uint64 {
	n, ok := f[key].(json.Number)
	if !ok {
		return 0
	}
	v, err := n.Int64()
	if err != nil || v < 0 {
		return 0
	}
	return uint64(v)
}

func (f frame) seq() uint64 { return f.num("seq") }

func (f frame) typ() string { return f.str("type") }

// message returns f["message"] as an object.
func (f frame) message() map[string]any {
	m, _ := f["message"].(map[string]any)
	return m
}

// text returns f.message()["text"].
func (f frame) text() string {
	s, _ := f.message()["text"].(string)
	return s
}

func (f frame) String() string {
	b, _ := json.Marshal(map[string]any(f))
	return string(b)
}

// client is a test transport bound to one connection. It checks on every
// batch that Next keeps the queue contract: a JSON list, objects with
// "seq", no duplicate keys, and seqs following on from the last one taken
// (a gap object may bridge lost ones). Its methods take the calling
// (sub)test's t.
type client struct {
	hub  *core.Hub
	ID   string
	User string
	Res  core.ConnectResult
	sess *core.Session
	// pos is the last seq taken through any session of this client.
	pos uint64
	// alive and final are set by TestConcurrent's reader goroutines.
	alive, final atomic.Bool
}

// connect connects user to channels with default settings.
func connect(t testing.TB, h *core.Hub, user string, channels ...string) *client {
	t.Helper()
	return connectWith(t, h, core.ConnectParams{Username: user, Channels: channels})
}

func connectWith(t testing.TB, h *core.Hub, p core.ConnectParams) *client {
	t.Helper()
	res, err := h.Connect(context.Background(), p)
	if err != nil {
		t.Fatalf("Connect(%q): %v", p.Username, err)
	}
	return &client{hub: h, ID: res.ConnID, User: p.Username, Res: res}
}

// listen connects user to channels and attaches a session.
func listen(t testing.TB, h *core.Hub, user string, channels ...string) *client {
	t.Helper()
	c := connect(t, h, user, channels...)
	c.attach(t, core.AttachOptions{Transport: "test"})
	return c
}

// attach attaches a new session; with Resume the position moves to LastSeq.
func (c *client) attach(t testing.TB, opts core.AttachOptions) *core.Session {
	t.Helper()
	s, err := c.hub.Attach(c.ID, opts)
	if err != nil {
		t.Fatalf("Attach(%s): %v", c.ID, err)
	}
	if opts.Resume {
		c.pos = opts.LastSeq
	}
	c.sess = s
	return s
}

// takeRaw calls Next once and checks the batch; it returns nil when
// nothing waits.
func (c *client) takeRaw(t testing.TB, max int) ([]byte, []frame) {
	t.Helper()
	if c.sess == nil {
		t.Fatalf("client %s has no session", c.User)
	}
	out, n, last := c.sess.Next(nil, max)
	if n == 0 {
		if len(out) != 0 {
			t.Fatalf("Next returned %q with n == 0", out)
		}
		return nil, nil
	}
	frames, err := c.check(out, n, last)
	if err != nil {
		t.Fatal(err)
	}
	return out, frames
}

// check verifies one Next batch and advances c.pos.
func (c *client) check(out []byte, n int, last uint64) ([]frame, error) {
	if len(out) < 2 || out[0] != '[' || out[len(out)-1] != ']' {
		return nil, fmt.Errorf("Next output is not a JSON list: %q", out)
	}
	if err := checkNoDuplicateKeys(out); err != nil {
		return nil, fmt.Errorf("Next output %s: %w", out, err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var frames []frame
	if err := dec.Decode(&frames); err != nil {
		return nil, fmt.Errorf("Next output %q: %w", out, err)
	}
	if len(frames) != n {
		return nil, fmt.Errorf("Next reported n=%d for %d objects: %s", n, len(frames), out)
	}
	for i, f := range frames {
		if f.typ() == "gap" {
			if i != 0 {
				return nil, fmt.Errorf("gap object not first in %s", out)
			}
			if from := f.num("from_seq"); from != c.pos+1 || f.num("to_seq") < from {
				return nil, fmt.Errorf("%s: gap %v after seq %d", c.User, f, c.pos)
			}
			c.pos = f.num("to_seq")
			continue
		}
		if _, ok := f["seq"]; !ok {
			return nil, fmt.Errorf("object without seq: %v", f)
		}
		if f.seq() != c.pos+1 {
			return nil, fmt.Errorf("%s: got seq %d after %d (duplicate or loss): %s", c.User, f.seq(), c.pos, out)
		}
		c.pos = f.seq()
	}
	if last != c.pos {
		return nil, fmt.Errorf("Next reported last=%d, list ends at %d", last, c.pos)
	}
	return frames, nil
}

// take returns every frame waiting now, without any gap object.
func (c *client) take(t testing.TB) []frame {
	t.Helper()
	_, frames := c.takeRaw(t, 0)
	return slices.DeleteFunc(frames, func(f frame) bool { return f.typ() == "gap" })
}

// takeOne expects exactly one waiting frame and returns it.
func (c *client) takeOne(t testing.TB) frame {
	t.Helper()
	frames := c.take(t)
	if len(frames) != 1 {
		t.Fatalf("%s: got %d frames, want 1: %v", c.User, len(frames), frames)
	}
	return frames[0]
}

// expectNothing fails when a frame waits.
func (c *client) expectNothing(t testing.TB) {
	t.Helper()
	if raw, _ := c.takeRaw(t, 0); raw != nil {
		t.Fatalf("%s: got %s, want nothing", c.User, raw)
	}
}

// waitFor takes frames as they become ready until n non-gap frames came or
// the deadline passes.
func (c *client) waitFor(t testing.TB, n int, within time.Duration) []frame {
	t.Helper()
	var got []frame
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for len(got) < n {
		select {
		case <-c.sess.Ready():
			got = append(got, c.take(t)...)
		case <-c.sess.Done():
			t.Fatalf("%s: session ended (%v) after %d of %d frames", c.User, c.sess.Reason(), len(got), n)
		case <-deadline.C:
			t.Fatalf("%s: got %d of %d frames within %v", c.User, len(got), n, within)
		}
	}
	return got
}

// checkNoDuplicateKeys walks a JSON document and fails on an object that
// repeats a key (JSON.parse would silently keep the last one).
func checkNoDuplicateKeys(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key := k.(string)
				if seen[key] {
					return fmt.Errorf("duplicate key %q", key)
				}
				seen[key] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	return walk()
}

// msg builds a channel message with a text body.
func msg(channel, text string) core.Message {
	return core.Message{
		Kind:    core.KindSend,
		UUID:    core.NewUUID(),
		Channel: channel,
		Fields: map[string]json.RawMessage{
			"user":      json.RawMessage(`"sys"`),
			"timestamp": json.RawMessage(`"2026-11-25T09:00:00"`),
			"message":   json.RawMessage(fmt.Sprintf(`{"text":%q}`, text)),
			"edited":    json.RawMessage(`null`),
		},
	}
}

// publish publishes messages and fails the test on nothing.
func publish(h *core.Hub, msgs ...core.Message) {
	h.Publish(context.Background(), msgs)
}

// texts lists the message texts of frames.
func texts(frames []frame) []string {
	out := make([]string, 0, len(frames))
	for _, f := range frames {
		out = append(out, f.text())
	}
	return out
}

// types lists the types of frames.
func types(frames []frame) []string {
	out := make([]string, 0, len(frames))
	for _, f := range frames {
		out = append(out, f.typ())
	}
	return out
}

// channelCfg returns the default settings changed by mut.
func channelCfg(mut func(*core.ChannelConfig)) core.ChannelConfig {
	cfg := core.DefaultChannelConfig()
	if mut != nil {
		mut(&cfg)
	}
	return cfg
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// isDone reports whether the session has ended.
func isDone(s *core.Session) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

// testDeadline bounds every wait for something another goroutine does.
const testDeadline = 5 * time.Second

// every calls fn every d on a goroutine of its own (a transport's
// heartbeats) until the test ends.
func every(t testing.TB, d time.Duration, fn func()) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				fn()
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })
}
