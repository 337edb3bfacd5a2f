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
	"github.com/channelstream-go/channelstream-go/transports/internal/resume"
	"github.com/channelstream-go/channelstream-go/transports/internal/seqoracle"
)

// FuzzParseRequest feeds arbitrary /sse query strings and Last-Event-ID
// header values to parseConnID, resumePoint and the handler (over a hub that
// knows no connection). The conn_id outcome and the resume point must match
// an independent reading; an accepted conn_id is canonical; a resume point
// survives the round trip through each of its four spellings; a valid
// header wins over the query; and every answer is one of the documented
// status and JSON body pairs. Seeds are in testdata/fuzz/FuzzParseRequest.
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

		// Last-Event-ID, last_event_id, lastEventId: the first non-empty one,
		// a seq or a cursor; else the cursor parameter.
		r := request(rawQuery, header)
		got := resumePoint(r)
		src := header
		for _, k := range []string{"last_event_id", "lastEventId"} {
			if src == "" {
				src = q.Get(k)
			}
		}
		want := oraclePoint(src)
		if !want.Resume {
			want = oraclePoint(q.Get("cursor"))
		}
		if got != want {
			t.Fatalf("resumePoint(query %q, header %q) = %+v; want %+v", rawQuery, header, got, want)
		}
		if header != "" {
			if alone := resumePoint(request("", header)); alone.Resume && alone != got {
				t.Fatalf("header %q with query %q gives %+v; alone %+v", header, rawQuery, got, alone)
			}
		}
		if got.Resume {
			canon := strconv.FormatUint(got.LastSeq, 10)
			if got.Cursor != "" {
				canon = got.Cursor
			}
			for _, r := range []*http.Request{
				request("", canon), request("last_event_id="+url.QueryEscape(canon), ""),
				request("lastEventId="+url.QueryEscape(canon), ""), request("cursor="+url.QueryEscape(canon), ""),
				request("", " "+canon+"\t"), request("cursor=x", canon),
			} {
				if again := resumePoint(r); again != got {
					t.Fatalf("canonical resume point %s (query %q, header %q) reads as %+v, want %+v",
						canon, r.URL.RawQuery, r.Header.Get("Last-Event-ID"), again, got)
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

// oraclePoint is an independent reading of an event id or cursor
// parameter: a seq or a cursor, surrounding spaces ignored; a cursor
// without positions is a plain seq.
func oraclePoint(v string) resume.Point {
	v = strings.TrimFunc(v, unicode.IsSpace)
	seq, positions, ok := seqoracle.Cursor(v)
	if !ok {
		return resume.Point{}
	}
	p := resume.Point{Resume: true, LastSeq: seq}
	if positions {
		p.Cursor = v
	}
	return p
}
