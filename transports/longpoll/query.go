package longpoll

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/internal/resume"
)

// callbackPattern is what a JSONP callback must look like (PROTOCOL §2 #11):
// an identifier, possibly dotted, at most 64 characters.
var callbackPattern = regexp.MustCompile(`^[A-Za-z_$][0-9A-Za-z_$.]{0,63}$`)

// pollRequest is a validated /listen query.
type pollRequest struct {
	connID   string       // canonical
	at       resume.Point // last_seq and/or cursor; at.Resume: one was given
	callback string       // "" for plain JSON
}

// reject is a client error: its status and its exact JSON body.
type reject struct {
	status int
	body   string
}

var (
	rejectNoConnID   = reject{http.StatusBadRequest, `{"error":"conn_id is required"}`}
	rejectBadUUID    = reject{http.StatusUnprocessableEntity, `["Wrong UUID format"]`}
	rejectBadLastSeq = reject{http.StatusUnprocessableEntity, `{"last_seq":["Not a valid integer."]}`}
	rejectBadCursor  = reject{http.StatusUnprocessableEntity, `{"cursor":["` + resume.MsgBadCursor + `"]}`}
	rejectDisagree   = reject{http.StatusBadRequest, `{"error":"` + resume.MsgDisagree + `"}`}
	rejectCallback   = reject{http.StatusBadRequest, `{"error":"callback must match ^[A-Za-z_$][0-9A-Za-z_$.]{0,63}$"}`}
	rejectDraining   = reject{http.StatusServiceUnavailable, `{"error":"server is shutting down"}`}
	// rejectUnavailable answers a poll whose attachment failed because
	// the backend is away (core.ErrUnavailable).
	rejectUnavailable = reject{http.StatusServiceUnavailable, `{"error":"service unavailable: backend unavailable; retry later"}`}
)

// parseQuery validates the raw query (URL.RawQuery) in upstream's order:
// conn_id first. An empty callback means none; last_seq, when present,
// must be a non-negative decimal integer; cursor, when present, a resume
// cursor (core.ParseCursor) whose seq is last_seq's when both are. Each
// key counts by its first value, as url.Values.Get does.
func parseQuery(rawQuery string) (pollRequest, *reject) {
	var p pollRequest
	q := newQuery(rawQuery)
	raw, _ := q.first("conn_id")
	if raw == "" {
		return p, &rejectNoConnID
	}
	id, ok := core.ParseUUID(raw)
	if !ok {
		return p, &rejectBadUUID
	}
	p.connID = id
	at, fault := resume.FromFirst(q.first)
	switch {
	case fault&resume.BadLastSeq != 0:
		return p, &rejectBadLastSeq
	case fault&resume.BadCursor != 0:
		return p, &rejectBadCursor
	case fault&resume.Disagree != 0:
		return p, &rejectDisagree
	}
	p.at = at
	if cb, _ := q.first("callback"); cb != "" {
		if !callbackPattern.MatchString(cb) {
			return p, &rejectCallback
		}
		p.callback = cb
	}
	return p, nil
}

// query is a raw query string read as url.ParseQuery reads it. A plain
// one, with nothing to unescape ('%', '+') and no ';' (whose pairs
// url.ParseQuery drops), is read in place: each '&'-separated pair is its
// key up to the first '=' and its value after it, so a poll's query
// costs no url.Values (a map and a slice per key, on every poll).
// Anything else is parsed by url.ParseQuery.
type query struct {
	raw    string
	parsed url.Values // for a query that is not plain
}

func newQuery(raw string) query {
	if strings.ContainsAny(raw, "%+;") {
		v, _ := url.ParseQuery(raw) // what r.URL.Query() keeps
		return query{parsed: v}
	}
	return query{raw: raw}
}

// first is key's first value and whether key is there.
func (q query) first(key string) (string, bool) {
	if q.parsed != nil {
		if vs, ok := q.parsed[key]; ok {
			return vs[0], true
		}
		return "", false
	}
	for rest := q.raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if k, v, _ := strings.Cut(pair, "="); k == key && pair != "" {
			return v, true
		}
	}
	return "", false
}
