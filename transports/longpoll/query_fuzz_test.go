package longpoll

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/internal/seqoracle"
)

// FuzzParseQuery feeds arbitrary /listen query strings to parseQuery and to
// the handler (over a hub that knows no connection). The outcome must match
// an independent reading of the query in upstream's order (conn_id,
// last_seq, then our cursor, callback); every rejection is one of the documented status and
// JSON body pairs, answered as such; an accepted query re-encodes to a
// canonical one that parses to the same request. Seeds are in
// testdata/fuzz/FuzzParseQuery.
func FuzzParseQuery(f *testing.F) {
	h := New(Config{Hub: core.New(core.Config{})})
	f.Fuzz(func(t *testing.T, rawQuery string) {
		q, _ := url.ParseQuery(rawQuery) // what r.URL.Query() does
		p, rej := parseQuery(rawQuery)

		var want *reject
		id, idOK := core.ParseUUID(q.Get("conn_id"))
		seq, seqOK := seqoracle.Decimal(q.Get("last_seq"))
		curSeq, curPos, curOK := seqoracle.Cursor(q.Get("cursor"))
		switch cb := q.Get("callback"); {
		case q.Get("conn_id") == "":
			want = &rejectNoConnID
		case !idOK:
			want = &rejectBadUUID
		case q.Has("last_seq") && !seqOK:
			want = &rejectBadLastSeq
		case q.Has("cursor") && !curOK:
			want = &rejectBadCursor
		case q.Has("cursor") && q.Has("last_seq") && curSeq != seq:
			want = &rejectDisagree
		case cb != "" && !jsIdentPath(cb):
			want = &rejectCallback
		}
		if want != nil {
			if rej == nil || *rej != *want {
				t.Fatalf("parseQuery(%q) = %+v, %v; want reject %v", rawQuery, p, rej, *want)
			}
			if !json.Valid([]byte(rej.body)) {
				t.Fatalf("reject body %s is not JSON", rej.body)
			}
			checkAnswer(t, h, rawQuery, *want)
			return
		}
		if rej != nil {
			t.Fatalf("parseQuery(%q) rejected a valid query: %v", rawQuery, *rej)
		}
		wantReq := pollRequest{connID: id, callback: q.Get("callback")}
		if q.Has("last_seq") {
			wantReq.at.Resume, wantReq.at.LastSeq = true, seq
		}
		if q.Has("cursor") {
			wantReq.at.Resume, wantReq.at.LastSeq = true, curSeq
			if curPos {
				wantReq.at.Cursor = q.Get("cursor")
			}
		}
		if p != wantReq {
			t.Fatalf("parseQuery(%q) = %+v, want %+v", rawQuery, p, wantReq)
		}
		if again, ok := core.ParseUUID(p.connID); !ok || again != p.connID || len(p.connID) != 36 {
			t.Fatalf("conn_id %q is not canonical", p.connID)
		}
		// The canonical spelling of what was accepted parses to itself.
		canon := url.Values{"conn_id": {p.connID}}
		if p.at.Resume {
			canon.Set("last_seq", strconv.FormatUint(p.at.LastSeq, 10))
		}
		if p.at.Cursor != "" {
			canon.Set("cursor", p.at.Cursor)
		}
		if p.callback != "" {
			canon.Set("callback", p.callback)
		}
		if p2, rej2 := parseQuery(canon.Encode()); rej2 != nil || p2 != p {
			t.Fatalf("canonical query %q parses to %+v, %v; want %+v", canon.Encode(), p2, rej2, p)
		}
		// The hub knows no connection: a valid poll is refused as unknown.
		r := httptest.NewRequest(http.MethodGet, "/listen", nil)
		r.URL.RawQuery = rawQuery
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized || w.Body.String() != unauthorizedHTML {
			t.Fatalf("query %q answered %d %s, want 401 with Pyramid's page", rawQuery, w.Code, w.Body)
		}
	})
}

// checkAnswer sends a poll with rawQuery to h and checks it is answered
// with want, as JSON.
func checkAnswer(t *testing.T, h *Handler, rawQuery string, want reject) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/listen", nil)
	r.URL.RawQuery = rawQuery
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != want.status || w.Body.String() != want.body || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("query %q answered %d %q %s, want %d application/json %s",
			rawQuery, w.Code, w.Header().Get("Content-Type"), w.Body, want.status, want.body)
	}
}

// jsIdentPath is an independent reading of a safe JSONP callback: 1 to 64
// ASCII characters, letters, digits, '_', '$' and '.', not starting with a
// digit or a dot.
func jsIdentPath(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		start := c == '_' || c == '$' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !start && (i == 0 || c != '.' && (c < '0' || c > '9')) {
			return false
		}
	}
	return true
}
