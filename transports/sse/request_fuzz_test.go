package sse

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/internal/seqoracle"
)

// FuzzParseRequest feeds arbitrary /sse query strings and Last-Event-ID
// header values to parseConnID, lastEventID and the handler (over a hub that
// knows no connection). The conn_id outcome and the resume point must match
// an independent reading; an accepted conn_id is canonical; a resume point
// survives the round trip through each of its three spellings; the header
// wins over the query; and every answer is one of the documented status and
// JSON body pairs. Seeds are in testdata/fuzz/FuzzParseRequest.
func FuzzParseRequest(f *testing.F) {
	h := New(Config{Hub: core.New(core.Config{})})
	f.Fuzz(func(t *testing.T, rawQuery, header string) {
		q, _ := url.ParseQuery(rawQuery) // what r.URL.Query() does

		// conn_id.
		id, errs := parseConnID(q)
		var wantBody string
		switch wantID, ok := core.ParseUUID(q.Get("conn_id")); {
		case !q.Has("conn_id"):
			wantBody = `{"conn_id":["Missing data for required field."]}`
		case !ok:
			wantBody = `{"conn_id":["Not a valid UUID."]}`
		default:
			if errs != nil || id != wantID || len(id) != 36 {
				t.Fatalf("parseConnID(%q) = %q, %v; want %q", rawQuery, id, errs, wantID)
			}
			if again, errs := parseConnID(url.Values{"conn_id": {id}}); errs != nil || again != id {
				t.Fatalf("canonical conn_id %q parses to %q, %v", id, again, errs)
			}
		}
		if wantBody != "" {
			if got, _ := json.Marshal(errs); id != "" || string(got) != wantBody {
				t.Fatalf("parseConnID(%q) = %q, %s; want %s", rawQuery, id, got, wantBody)
			}
		}

		// Last-Event-ID, last_event_id, lastEventId: the first non-empty one.
		r := request(rawQuery, header)
		seq, ok := lastEventID(r)
		src := header
		for _, k := range []string{"last_event_id", "lastEventId"} {
			if src == "" {
				src = q.Get(k)
			}
		}
		wantSeq, wantOK := seqoracle.Decimal(strings.TrimFunc(src, unicode.IsSpace))
		if seq != wantSeq || ok != wantOK {
			t.Fatalf("lastEventID(query %q, header %q) = %d, %v; want %d, %v", rawQuery, header, seq, ok, wantSeq, wantOK)
		}
		if header != "" {
			if s2, ok2 := lastEventID(request("", header)); s2 != seq || ok2 != ok {
				t.Fatalf("header %q with query %q gives %d, %v; alone %d, %v", header, rawQuery, seq, ok, s2, ok2)
			}
		}
		if ok {
			canon := strconv.FormatUint(seq, 10)
			for _, r := range []*http.Request{
				request("", canon), request("last_event_id="+canon, ""), request("lastEventId="+canon, ""),
				request("", " "+canon+"\t"),
			} {
				if s2, ok2 := lastEventID(r); s2 != seq || !ok2 {
					t.Fatalf("canonical resume point %s (query %q, header %q) reads as %d, %v",
						canon, r.URL.RawQuery, r.Header.Get("Last-Event-ID"), s2, ok2)
				}
			}
		}

		// The handler: 422 with the body above, or 404 for the unknown id.
		status := http.StatusUnprocessableEntity
		if wantBody == "" {
			status, wantBody = http.StatusNotFound, `{"error":"unknown connection"}`
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != status || w.Body.String() != wantBody || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("query %q header %q answered %d %q %s, want %d application/json %s",
				rawQuery, header, w.Code, w.Header().Get("Content-Type"), w.Body, status, wantBody)
		}
	})
}

// request is a GET /sse with rawQuery and, when not empty, a Last-Event-ID
// header.
func request(rawQuery, lastEventID string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/sse", nil)
	r.URL.RawQuery = rawQuery
	if lastEventID != "" {
		r.Header.Set("Last-Event-ID", lastEventID)
	}
	return r
}
