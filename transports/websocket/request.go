package websocket

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/channelstream-go/channelstream-go/core"
)

// The marshmallow messages upstream's 0.7.1 validation errors carry.
const (
	msgMissing    = "Missing data for required field."
	msgNotUUID    = "Not a valid UUID."
	msgNotInteger = "Not a valid integer."
)

// params is a validated /ws query.
type params struct {
	connID  string // canonical form
	resume  bool   // last_seq was given
	lastSeq uint64
}

// fieldErrors maps a query key to its validation messages, the body of a 422.
type fieldErrors map[string][]string

// parseParams validates the query of a /ws request. It returns nil errors
// when the query is valid.
func parseParams(q url.Values) (params, fieldErrors) {
	var p params
	errs := fieldErrors{}
	if !q.Has("conn_id") {
		errs["conn_id"] = []string{msgMissing}
	} else if id, ok := core.ParseUUID(q.Get("conn_id")); ok {
		p.connID = id
	} else {
		errs["conn_id"] = []string{msgNotUUID}
	}
	if q.Has("last_seq") {
		n, err := strconv.ParseUint(q.Get("last_seq"), 10, 64)
		if err != nil {
			errs["last_seq"] = []string{msgNotInteger}
		} else {
			p.resume, p.lastSeq = true, n
		}
	}
	if len(errs) > 0 {
		return params{}, errs
	}
	return p, nil
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
