package longpoll

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

func TestRejectsBadRequests(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 100 * time.Millisecond})
	known := e.connect(t, "alice", "c")
	cases := []struct {
		name   string
		query  string
		status int
		body   string
	}{
		{"missing conn_id is 400", "", 400, `{"error":"conn_id is required"}`},
		{"empty conn_id is 400", "conn_id=", 400, `{"error":"conn_id is required"}`},
		{"non-UUID conn_id is 422 with a list", "conn_id=abc", 422, `["Wrong UUID format"]`},
		{"non-UUID is checked before callback", "conn_id=abc&callback=1x", 422, `["Wrong UUID format"]`},
		{"negative last_seq is 422", "conn_id=" + known + "&last_seq=-1", 422, `{"last_seq":["Not a valid integer."]}`},
		{"word last_seq is 422", "conn_id=" + known + "&last_seq=abc", 422, `{"last_seq":["Not a valid integer."]}`},
		{"fraction last_seq is 422", "conn_id=" + known + "&last_seq=1.5", 422, `{"last_seq":["Not a valid integer."]}`},
		{"empty last_seq is 422", "conn_id=" + known + "&last_seq=", 422, `{"last_seq":["Not a valid integer."]}`},
		{"signed last_seq is 422", "conn_id=" + known + "&last_seq=%2B1", 422, `{"last_seq":["Not a valid integer."]}`},
		{"overflowing last_seq is 422", "conn_id=" + known + "&last_seq=18446744073709551616", 422, `{"last_seq":["Not a valid integer."]}`},
		{"bad cursor is 422", "conn_id=" + known + "&cursor=3-0.0.1", 422, `{"cursor":["Not a valid resume cursor."]}`},
		{"empty cursor is 422", "conn_id=" + known + "&cursor=", 422, `{"cursor":["Not a valid resume cursor."]}`},
		{"last_seq is checked before cursor", "conn_id=" + known + "&last_seq=x&cursor=y", 422, `{"last_seq":["Not a valid integer."]}`},
		{"cursor is checked before callback", "conn_id=" + known + "&cursor=y&callback=1x", 422, `{"cursor":["Not a valid resume cursor."]}`},
		{"cursor and last_seq that disagree are 400", "conn_id=" + known + "&last_seq=2&cursor=3-0.1.9", 400, `{"error":"cursor and last_seq disagree on the seq"}`},
		{"script callback is 400", "conn_id=" + known + "&callback=alert(1)", 400, ""},
		{"callback starting with a digit is 400", "conn_id=" + known + "&callback=1cb", 400, ""},
		{"65-character callback is 400", "conn_id=" + known + "&callback=" + strings.Repeat("a", 65), 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get(context.Background(), e.srv.URL+"/listen?"+tc.query)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (body %s)", r.status, tc.status, r.body)
			}
			if tc.body != "" && string(r.body) != tc.body {
				t.Errorf("body %s, want %s", r.body, tc.body)
			}
			if tc.body == "" && !strings.HasPrefix(string(r.body), `{"error":`) {
				t.Errorf("body %s, want a JSON error", r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if r.header.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("the middleware's CORS header was lost")
			}
		})
	}
}

// TestUnknownConnIs401WithPyramidsPage: a poll for a connection the hub
// does not know gets upstream's 401 (UPSTREAM.md §3.12): Pyramid's HTML
// page by default, its JSON for Accept: application/json, plain text when
// neither is acceptable.
func TestUnknownConnIs401WithPyramidsPage(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 100 * time.Millisecond})
	u := e.srv.URL + "/listen?conn_id=" + core.NewUUID()
	cases := []struct {
		accept   string
		ct, body string
	}{
		{"", "text/html; charset=UTF-8", unauthorizedHTML},
		{"*/*", "text/html; charset=UTF-8", unauthorizedHTML},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html; charset=UTF-8", unauthorizedHTML},
		{"application/json", "application/json", unauthorizedJSON},
		{"application/json, text/plain, */*;q=0.5", "application/json", unauthorizedJSON},
		{"text/html;q=0.1, application/*", "application/json", unauthorizedJSON},
		{"text/plain", "text/plain; charset=UTF-8", unauthorizedText},
		{"text/html;q=0, application/json;q=0", "text/plain; charset=UTF-8", unauthorizedText},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != tc.ct || string(body) != tc.body {
			t.Errorf("Accept %q: %d %q %q, want 401 %q %q", tc.accept, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.ct, tc.body)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("Accept %q: the middleware's CORS header was lost", tc.accept)
		}
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(unauthorizedJSON), &v); err != nil || v["code"] != "401 Unauthorized" ||
		v["title"] != "Unauthorized" || !strings.HasPrefix(v["message"], "This server could not verify") || !strings.HasSuffix(v["message"], ".\n\n\n\n\n") {
		t.Errorf("JSON body %q does not decode to Pyramid's shape: %v %v", unauthorizedJSON, v, err)
	}
}

func TestAcceptsEveryUUIDSpelling(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 50 * time.Millisecond})
	id := e.connect(t, "alice", "c")
	for _, spelling := range []string{
		strings.ToUpper(id), strings.ReplaceAll(id, "-", ""), "{" + id + "}", "urn:uuid:" + id,
	} {
		r := e.get(context.Background(), e.srv.URL+"/listen?conn_id="+url.QueryEscape(spelling))
		if r.status != http.StatusOK || string(r.body) != "[]" {
			t.Errorf("%s: status %d body %s", spelling, r.status, r.body)
		}
	}
}

func TestDrainingHubAnswers503(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	id := e.connect(t, "alice", "c")
	e.hub.Drain()
	r := e.poll(t, id, nil)
	if r.status != http.StatusServiceUnavailable || !strings.HasPrefix(string(r.body), `{"error":`) {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	if r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("the middleware's CORS header was lost")
	}
}

func TestShutdownAnswersWaitingPollsAtOnce(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 10 * time.Second})
	id := e.connect(t, "alice", "c")
	pending := e.pollAsync(context.Background(), id, nil)
	waitFor(t, 5*time.Second, "the poll to wait", func() bool { return e.h.Pending() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	r := await(t, pending, 5*time.Second)
	if fs := frames(t, r); len(fs) != 0 {
		t.Errorf("got %d frames, want []", len(fs))
	}
	if d := time.Since(start); d > slack {
		t.Errorf("shutdown took %v", d)
	}
	if r := e.poll(t, id, nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("poll after shutdown: status %d, want 503", r.status)
	}
}

func TestShutdownDeliversWhatIsWaiting(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{Timeout: 10 * time.Second, Gather: 10 * time.Second})
	id := e.connect(t, "alice", "c")
	pending := e.pollAsync(context.Background(), id, nil)
	waitFor(t, 5*time.Second, "the poll to wait", func() bool { return e.h.Pending() == 1 })
	msg := e.publish("c", "last words")
	if err := e.h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	fs := frames(t, await(t, pending, 5*time.Second))
	if len(fs) != 1 || fs[0].UUID != msg {
		t.Fatalf("got %v, want [%s]", uuids(fs), msg)
	}
}
