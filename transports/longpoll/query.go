package longpoll

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/channelstream-go/channelstream-go/core"
)

// callbackPattern is what a JSONP callback must look like (PROTOCOL §2 #11):
// an identifier, possibly dotted, at most 64 characters.
var callbackPattern = regexp.MustCompile(`^[A-Za-z_$][0-9A-Za-z_$.]{0,63}$`)

// pollRequest is a validated /listen query.
type pollRequest struct {
	connID   string // canonical
	resume   bool   // last_seq was given
	lastSeq  uint64
	callback string // "" for plain JSON
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
	rejectCallback   = reject{http.StatusBadRequest, `{"error":"callback must match ^[A-Za-z_$][0-9A-Za-z_$.]{0,63}$"}`}
	rejectDraining   = reject{http.StatusServiceUnavailable, `{"error":"server is shutting down"}`}
)

// parseQuery validates the query in upstream's order: conn_id first.
// An empty callback means none; last_seq, when present, must be a
// non-negative decimal integer.
func parseQuery(q url.Values) (pollRequest, *reject) {
	var p pollRequest
	raw := q.Get("conn_id")
	if raw == "" {
		return p, &rejectNoConnID
	}
	id, ok := core.ParseUUID(raw)
	if !ok {
		return p, &rejectBadUUID
	}
	p.connID = id
	if vs, ok := q["last_seq"]; ok {
		n, ok := parseSeq(vs[0])
		if !ok {
			return p, &rejectBadLastSeq
		}
		p.resume, p.lastSeq = true, n
	}
	if cb := q.Get("callback"); cb != "" {
		if !callbackPattern.MatchString(cb) {
			return p, &rejectCallback
		}
		p.callback = cb
	}
	return p, nil
}

// parseSeq accepts decimal digits only (no sign, no spaces, no
// underscores) that fit a uint64.
func parseSeq(s string) (uint64, bool) {
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}
