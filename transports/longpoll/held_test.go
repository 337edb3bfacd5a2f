package longpoll

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// TestAnsweredConnectionServesTheNextPoll: a waiting poll's connection is
// taken over from net/http, and once answered it goes back to the server,
// so that the client's next poll reuses it (keep-alive), with the
// middleware's headers on every answer.
func TestAnsweredConnectionServesTheNextPoll(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 5 * time.Second, Gather: NoGather})
	id := e.connect(t, "alice", "c")
	var conns []bool // reused, per poll
	for i := range 3 {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { conns = append(conns, info.Reused) }}
		ctx := httptrace.WithClientTrace(context.Background(), trace)
		pending := e.pollAsync(ctx, id, nil)
		waitFor(t, 5*time.Second, "the poll to wait", func() bool { return e.h.Pending() == 1 })
		msg := e.publish("c", "m")
		r := await(t, pending, 5*time.Second)
		if fs := frames(t, r); len(fs) != 1 || fs[0].UUID != msg {
			t.Fatalf("poll %d got %v, want [%s]", i, uuids(fs), msg)
		}
		if r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("poll %d: the middleware's CORS header was lost", i)
		}
	}
	if len(conns) != 3 || conns[0] || !conns[1] || !conns[2] {
		t.Errorf("connections reused per poll: %v, want [false true true]", conns)
	}
}

// TestHeldPollAnswersOnShutdown: a poll waiting on a taken-over
// connection is invisible to http.Server, and must still end on Shutdown.
func TestHeldPollAnswersOnShutdown(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: time.Minute})
	id := e.connect(t, "alice", "c")
	pending := e.pollAsync(context.Background(), id, nil)
	waitFor(t, 5*time.Second, "the poll to wait", func() bool { return e.h.Pending() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if r := await(t, pending, 5*time.Second); r.status != http.StatusOK || string(r.body) != "[]" {
		t.Fatalf("answered %d %s, want 200 []", r.status, r.body)
	}
}

// TestPipelinedPollIsServedAfterTheAnswer: what the client sends while its
// poll waits (here its next poll, pipelined) is kept and served once the
// connection is handed back.
func TestPipelinedPollIsServedAfterTheAnswer(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 5 * time.Second, Gather: NoGather})
	id := e.connect(t, "alice", "c")
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	get := fmt.Sprintf("GET /listen?conn_id=%s HTTP/1.1\r\nHost: test\r\n\r\n", id)
	if _, err := io.WriteString(c, get); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the poll to wait", func() bool { return e.h.Pending() == 1 })
	if _, err := io.WriteString(c, get); err != nil { // the next poll, before the answer
		t.Fatal(err)
	}
	first, second := e.publish("c", "one"), ""
	br := bufio.NewReader(c)
	for i, want := range []*string{&first, &second} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if fs := decodeList(t, body); len(fs) != 1 || fs[0].UUID != *want {
			t.Fatalf("answer %d: %s, want [%s]", i, body, *want)
		}
		if i == 0 {
			waitFor(t, 5*time.Second, "the pipelined poll to wait", func() bool { return e.h.Pending() == 1 })
			second = e.publish("c", "two")
		}
	}
}
