package longpoll

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strings"
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
	if n := e.h.FollowUps(); n != 2 {
		t.Errorf("the handler read %d follow-up polls itself, want 2", n)
	}
}

// rawPoll is a client on one connection of its own to e's server.
type rawPoll struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, e *env) *rawPoll {
	t.Helper()
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawPoll{t: t, c: c, br: bufio.NewReader(c)}
}

func (p *rawPoll) send(req string) {
	p.t.Helper()
	if _, err := io.WriteString(p.c, req); err != nil {
		p.t.Fatal(err)
	}
}

// answer reads an answer's status and body.
func (p *rawPoll) answer() (int, string) {
	p.t.Helper()
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		p.t.Fatalf("read answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(b)
}

// answeredPoll is a connection whose poll (get, answered at once with the
// frame "m" again each time) was answered.
func answeredPoll(t *testing.T) (*env, *rawPoll, string) {
	t.Helper()
	e := newEnv(t, core.Config{}, Config{Timeout: 5 * time.Second, Gather: NoGather})
	id := e.connect(t, "alice", "c")
	e.publish("c", "m")
	p := dialRaw(t, e)
	get := fmt.Sprintf("GET /listen?conn_id=%s&last_seq=0 HTTP/1.1\r\nHost: test\r\n\r\n", id)
	p.send(get)
	if code, body := p.answer(); code != http.StatusOK || !strings.Contains(body, `"m"`) {
		t.Fatalf("first poll: %d %s", code, body)
	}
	return e, p, get
}

// TestFollowUpThatIsNoPollGoesToTheServer: after an answer, a request
// that is not a plain poll (here a POST with a body) goes to the server
// with the bytes the handler read of it, and the server's answer comes on
// the same connection; the poll after it is served as usual.
func TestFollowUpThatIsNoPollGoesToTheServer(t *testing.T) {
	e, p, get := answeredPoll(t)
	p.send("POST /listen HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello")
	if code, _ := p.answer(); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /listen answered %d, want the server's 405", code)
	}
	if n := e.h.FollowUps(); n != 0 {
		t.Fatalf("the handler read %d follow-ups itself, want 0", n)
	}
	p.send(get)
	if code, body := p.answer(); code != http.StatusOK || !strings.Contains(body, `"m"`) {
		t.Fatalf("poll after the POST: %d %s", code, body)
	}
}

// TestShutdownHandsAFollowedConnectionBack: a connection whose next
// request the handler awaits goes back to the server on Shutdown, which
// then answers the client's next poll itself (503: the handler is shut
// down) instead of the connection being cut.
func TestShutdownHandsAFollowedConnectionBack(t *testing.T) {
	e, p, get := answeredPoll(t)
	waitFor(t, 5*time.Second, "the handler to await the next request", func() bool {
		e.h.mu.Lock()
		defer e.h.mu.Unlock()
		return len(e.h.held) == 1
	})
	shutdown(t, e.h)
	p.send(get)
	if code, body := p.answer(); code != http.StatusServiceUnavailable {
		t.Fatalf("poll after Shutdown: %d %s, want 503", code, body)
	}
	if n := e.h.FollowUps(); n != 0 {
		t.Fatalf("the handler read %d follow-ups itself after Shutdown, want 0", n)
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

// TestHeldAnswerCarriesTheMiddlewaresHeadersCleaned: an answer written on
// a taken-over connection carries what the middleware set, as net/http
// would write it: a line break in a value does not start a header of its
// own, a malformed name is dropped, and the answer's own headers win.
func TestHeldAnswerCarriesTheMiddlewaresHeadersCleaned(t *testing.T) {
	hub := core.New(core.Config{})
	h := New(Config{Hub: hub, Timeout: 5 * time.Second, Gather: NoGather})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Multi", " a\r\nInjected: 1 ")
		w.Header().Add("X-Two", "one")
		w.Header().Add("X-Two", "two")
		w.Header()["Bad Name"] = []string{"x"}
		w.Header().Set("Content-Type", "text/html")
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { shutdown(t, h) })
	res, err := hub.Connect(context.Background(), core.ConnectParams{Username: "alice", Channels: []string{"c"}, Info: core.DefaultInfoOptions()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /listen?conn_id=%s HTTP/1.1\r\nHost: x\r\n\r\n", res.ConnID)
	waitFor(t, 5*time.Second, "the poll to wait", func() bool { return h.Pending() == 1 })
	hub.Publish(context.Background(), []core.Message{{Kind: core.KindSend, UUID: core.NewUUID(), Channel: "c",
		Fields: map[string]json.RawMessage{"message": json.RawMessage(`"m"`)}}})
	br := bufio.NewReader(c)
	var head []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read head: %v (so far %q)", err, head)
		}
		if line == "\r\n" {
			break
		}
		head = append(head, strings.TrimSuffix(line, "\r\n"))
	}
	want := []string{"HTTP/1.1 200 OK", "Content-Type: application/json", "X-Multi: a  Injected: 1", "X-Two: one", "X-Two: two"}
	for _, w := range want {
		if !slices.Contains(head, w) {
			t.Errorf("head lacks %q: %q", w, head)
		}
	}
	for _, l := range head {
		if strings.HasPrefix(l, "Injected") || strings.HasPrefix(l, "Bad Name") || l == "Content-Type: text/html" {
			t.Errorf("head has %q: %q", l, head)
		}
	}
}
