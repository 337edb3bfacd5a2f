package websocket

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/internal/resume"
)

// The marshmallow messages upstream's 0.7.1 validation errors carry.
const (
	msgMissing    = "Missing data for required field."
	msgNotUUID    = "Not a valid UUID."
	msgNotInteger = "Not a valid integer."
)

// params is a validated /ws query.
type params struct {
	connID string       // canonical form
	at     resume.Point // last_seq and/or cursor; at.Resume: one was given
}

// fieldErrors maps a query key to its validation messages, the body of a 422.
type fieldErrors map[string][]string

// parseParams validates the query of a /ws request. It returns nil errors
// when the query is valid, and disagree when it is, except that its
// cursor and last_seq name different seqs (a 400).
func parseParams(q url.Values) (p params, errs fieldErrors, disagree bool) {
	errs = fieldErrors{}
	if !q.Has("conn_id") {
		errs["conn_id"] = []string{msgMissing}
	} else if id, ok := core.ParseUUID(q.Get("conn_id")); ok {
		p.connID = id
	} else {
		errs["conn_id"] = []string{msgNotUUID}
	}
	at, fault := resume.FromQuery(q)
	if fault&resume.BadLastSeq != 0 {
		errs["last_seq"] = []string{msgNotInteger}
	}
	if fault&resume.BadCursor != 0 {
		errs["cursor"] = []string{resume.MsgBadCursor}
	}
	if len(errs) > 0 {
		return params{}, errs, false
	}
	if fault&resume.Disagree != 0 {
		return params{}, nil, true
	}
	p.at = at
	return p, nil, false
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers with {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
