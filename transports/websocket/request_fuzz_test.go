package websocket

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

// FuzzParseParams feeds arbitrary /ws query strings to parseParams. An
// accepted query has a canonical conn_id and re-encodes to a query that
// parses to the same params; a rejected one names exactly the fields an
// independent reading finds wrong, with upstream's messages, and the handler
// answers it with that JSON body and 422 before any upgrade; a valid one
// whose cursor and last_seq name different seqs is a 400. Seeds are in
// testdata/fuzz/FuzzParseParams.
func FuzzParseParams(f *testing.F) {
	hub := core.New(core.Config{})
	h := New(Config{Hub: hub})
	f.Fuzz(func(t *testing.T, rawQuery string) {
		q, _ := url.ParseQuery(rawQuery) // what r.URL.Query() does
		p, errs, disagree := parseParams(q)

		want := fieldErrors{}
		if !q.Has("conn_id") {
			want["conn_id"] = []string{msgMissing}
		} else if _, ok := core.ParseUUID(q.Get("conn_id")); !ok {
			want["conn_id"] = []string{msgNotUUID}
		}
		seq, seqOK := seqoracle.Decimal(q.Get("last_seq"))
		if q.Has("last_seq") && !seqOK {
			want["last_seq"] = []string{msgNotInteger}
		}
		curSeq, curPos, curOK := seqoracle.Cursor(q.Get("cursor"))
		if q.Has("cursor") && !curOK {
			want["cursor"] = []string{"Not a valid resume cursor."}
		}
		if len(want) > 0 {
			got, _ := json.Marshal(errs)
			exp, _ := json.Marshal(want)
			if string(got) != string(exp) || p != (params{}) || disagree {
				t.Fatalf("parseParams(%q) = %+v, %s; want errors %s", rawQuery, p, got, exp)
			}
			checkRejected(t, h, rawQuery, exp)
			return
		}
		if errs != nil {
			t.Fatalf("parseParams(%q) rejected a valid query: %v", rawQuery, errs)
		}
		if want := q.Has("cursor") && q.Has("last_seq") && curSeq != seq; disagree != want || (disagree && p != (params{})) {
			t.Fatalf("parseParams(%q) = %+v, disagree %v; want disagree %v", rawQuery, p, disagree, want)
		}
		if disagree {
			checkAnswered(t, h, rawQuery, http.StatusBadRequest, []byte(`{"error":"cursor and last_seq disagree on the seq"}`))
			return
		}
		wantCur := ""
		if q.Has("cursor") {
			seq = curSeq
			if curPos { // a bare seq is no more than last_seq
				wantCur = q.Get("cursor")
			}
		}
		if p.at.Cursor != wantCur {
			t.Fatalf("parseParams(%q) = %+v, want cursor %q", rawQuery, p, wantCur)
		}
		if again, ok := core.ParseUUID(p.connID); !ok || again != p.connID || len(p.connID) != 36 {
			t.Fatalf("conn_id %q is not canonical", p.connID)
		}
		if id, _ := core.ParseUUID(q.Get("conn_id")); id != p.connID {
			t.Fatalf("conn_id %q, want %q", p.connID, id)
		}
		resumes := q.Has("last_seq") || q.Has("cursor")
		if p.at.Resume != resumes || (resumes && p.at.LastSeq != seq) || (!resumes && p.at.LastSeq != 0) {
			t.Fatalf("parseParams(%q) = %+v, want resume %v at %d", rawQuery, p, resumes, seq)
		}
		// The canonical spelling of what was accepted parses to itself.
		canon := url.Values{"conn_id": {p.connID}}
		if p.at.Resume {
			canon.Set("last_seq", strconv.FormatUint(p.at.LastSeq, 10))
		}
		if p.at.Cursor != "" {
			canon.Set("cursor", p.at.Cursor)
		}
		again, _ := url.ParseQuery(canon.Encode())
		if p2, errs2, dis2 := parseParams(again); errs2 != nil || dis2 || p2 != p {
			t.Fatalf("canonical query %q parses to %+v, %v; want %+v", canon.Encode(), p2, errs2, p)
		}
	})
}

// checkRejected sends query to the handler as a WebSocket handshake and
// checks the 422 answer carries body.
func checkRejected(t *testing.T, h *Handler, rawQuery string, body []byte) {
	t.Helper()
	checkAnswered(t, h, rawQuery, http.StatusUnprocessableEntity, body)
}

// checkAnswered sends query to the handler as a WebSocket handshake and
// checks it is answered status with the JSON body.
func checkAnswered(t *testing.T, h *Handler, rawQuery string, status int, body []byte) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/ws", nil)
	r.URL.RawQuery = rawQuery
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != status || w.Body.String() != string(body) ||
		w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("query %q answered %d %q %s, want %d application/json %s",
			rawQuery, w.Code, w.Header().Get("Content-Type"), w.Body, status, body)
	}
}
