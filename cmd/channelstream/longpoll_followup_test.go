package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLongpollFollowUpAnswersAsNetHTTP: after answering a poll, the
// long-poll handler reads the client's next request on that kept-alive
// connection itself, and serves a plain poll through the gateway's whole
// middleware chain without net/http. Each request below is sent on a
// fresh connection (net/http reads it) and as a follow-up after an
// answered poll: both answers must be the same in status, headers (Date
// aside: it is the time) and body framing, with allow_cors off and on.
// Refusals of the middleware (a bad signature) and of the handler (bad
// query, unknown connection) included; anything that is not a plain poll
// must go to net/http instead (the handler's count of follow-ups says
// which path served it).
func TestLongpollFollowUpAnswersAsNetHTTP(t *testing.T) {
	for _, cors := range [][]string{nil, {"example.com"}} {
		t.Run(fmt.Sprintf("allow_cors=%v", cors), func(t *testing.T) {
			tg := startGateway(t, func(c *Config) { c.AllowCORS = cors; c.LongpollGather = 0 })
			id := tg.Connect("alice", "room")
			tg.mustSend(t, "room", "hello")
			// last_seq=0: every poll answers the same frame at once.
			poll := "/listen?conn_id=" + id + "&last_seq=0"
			primer := "GET " + poll + " HTTP/1.1\r\nHost: cs\r\n\r\n"
			cases := []struct {
				name, target, headers string
				follow                bool // served by the handler itself
			}{
				{"poll", poll, "", true},
				{"poll with browser headers", poll, "User-Agent: test/1\r\nAccept: */*\r\nConnection: keep-alive\r\nCookie: a=b\r\n", true},
				{"poll from an allowed origin", poll, "Origin: http://example.com\r\n", true},
				{"poll from another origin", poll, "Origin: http://other.org\r\n", true},
				{"JSONP poll", poll + "&callback=cb", "", true},
				{"unknown connection", "/listen?conn_id=00000000-0000-4000-8000-000000000000", "", true},
				{"unknown connection, JSON", "/listen?conn_id=00000000-0000-4000-8000-000000000000", "Accept: application/json\r\n", true},
				{"not a uuid", "/listen?conn_id=nope", "", true},
				{"no conn_id", "/listen", "", true},
				{"bad last_seq", "/listen?conn_id=" + id + "&last_seq=x", "", true},
				{"bad signature", poll, "X-Channelstream-Secret: nope\r\n", true},
				{"another path", "/healthz", "", false},
				{"a prefix of the path", "/listener?conn_id=" + id, "", false},
				{"closing poll", poll, "Connection: close\r\n", false},
				{"poll with a body", poll, "Content-Length: 0\r\n", false},
			}
			for _, c := range cases {
				req := "GET " + c.target + " HTTP/1.1\r\nHost: cs\r\n" + c.headers + "\r\n"
				fresh := exchange(t, tg, "", req)
				before := tg.g.longpoll.FollowUps()
				followed := exchange(t, tg, primer, req)
				n := tg.g.longpoll.FollowUps() - before
				if want := map[bool]int64{false: 0, true: 1}[c.follow]; n != want {
					t.Errorf("%s: the handler read %d follow-ups, want %d", c.name, n, want)
				}
				if fresh != followed {
					t.Errorf("%s: answers differ\non a fresh connection:\n%s\nas a follow-up:\n%s", c.name, fresh, followed)
				}
			}
		})
	}
}

// exchange sends primer (when not empty) and reads its answer, then sends
// req on the same connection and returns its answer, normalized: status,
// framing, the headers but Date in order, and the body.
func exchange(t *testing.T, tg *testGateway, primer, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(tg.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if primer != "" {
		if _, err := io.WriteString(c, primer); err != nil {
			t.Fatal(err)
		}
		if a := readAnswer(t, br); !strings.HasPrefix(a, "200 ") {
			t.Fatalf("primer answered %s", a)
		}
	}
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return readAnswer(t, br)
}

func readAnswer(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\ntransfer-encoding %v, content-length %d, close %v\n", resp.Status, resp.TransferEncoding, resp.ContentLength, resp.Close)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		if k != "Date" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %q\n", k, resp.Header[k])
	}
	if resp.Header.Get("Date") == "" {
		b.WriteString("(no Date)\n")
	}
	b.Write(body)
	return b.String()
}
