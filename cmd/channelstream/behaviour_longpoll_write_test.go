package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// goneClientWriter is a ResponseWriter whose client is gone: every body write
// fails.
type goneClientWriter struct {
	header http.Header
	tried  strings.Builder // what the handler tried to write
}

func (w *goneClientWriter) Header() http.Header { return w.header }
func (w *goneClientWriter) WriteHeader(int)     {}
func (w *goneClientWriter) Write(b []byte) (int, error) {
	w.tried.Write(b)
	return 0, errors.New("connection reset by peer")
}

// TestLongpollFailedAnswerIsNotDelivered: without last_seq "a response
// written without error counts as delivered"; an answer whose write fails
// is rewound (core.Session.Rewind), so the next plain poll gets its frames.
func TestLongpollFailedAnswerIsNotDelivered(t *testing.T) {
	tg := startGateway(t, behaviourConfig)
	id := tg.Connect("alice", "room")
	e := &behaviourEnv{t: t, tg: tg, transport: "longpoll"}
	e.send(map[string]any{"channel": "room", "message": msgText("m1")})

	w := &goneClientWriter{header: http.Header{}}
	tg.g.longpoll.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/listen?conn_id="+id, nil))
	if !strings.Contains(w.tried.String(), `"m1"`) {
		t.Fatalf("the failing poll did not try to answer m1: %q", w.tried.String())
	}

	// The client comes back, polling like upstream's client (no last_seq).
	poll := startPoll(tg.URL, id, nil)
	defer poll.Close()
	batch, err := poll.Next(promptly)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != 1 || batch[0].Text() != "m1" {
		t.Errorf("the next poll got %v, want m1 again: the answer that failed was not delivered", batch)
	}
}
