package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/channelstream-go/channelstream-go/core"
)

// writeJSON writes v as compact JSON with upstream's content type.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeStatusError writes Pyramid's JSON error shape plus our "error" key.
func writeStatusError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{
		"code":    fmt.Sprintf("%d %s", status, http.StatusText(status)),
		"title":   http.StatusText(status),
		"message": msg,
		"error":   msg,
	})
}

// writeForbidden writes upstream's exact 403 body.
func writeForbidden(w http.ResponseWriter) {
	writeJSON(w, http.StatusForbidden, map[string]string{
		"message": "Access was denied to this resource.\n\n\n\n\n",
		"code":    "403 Forbidden",
		"title":   "Forbidden",
	})
}

// writeError maps an error to its status and body. This is the one table
// from errors to HTTP statuses; anything it does not know is a 500, logged.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		fields FieldErrors
		bad    *BadRequest
		tooBig *http.MaxBytesError
		limit  *core.LimitError
	)
	switch {
	case errors.As(err, &fields):
		writeJSON(w, http.StatusUnprocessableEntity, fields)
	case errors.As(err, &limit) && limit.Capacity():
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": limit.Reason})
	case errors.As(err, &limit):
		writeJSON(w, http.StatusUnprocessableEntity, FieldErrors{limit.Field: []string{limit.Reason}})
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": bad.Msg})
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{
			"error": fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)})
	case errors.Is(err, core.ErrUnknownConn):
		writeJSON(w, http.StatusUnprocessableEntity, FieldErrors{"conn_id": []string{"Unknown connection"}})
	case errors.Is(err, core.ErrUnknownUser):
		writeJSON(w, http.StatusUnprocessableEntity, FieldErrors{"user": []string{"Unknown user"}})
	case errors.Is(err, core.ErrConnOwned):
		writeJSON(w, http.StatusUnprocessableEntity, FieldErrors{"conn_id": []string{"Connection id belongs to another user"}})
	case errors.Is(err, core.ErrOutcomeUnknown):
		s.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("the outcome of a change is unknown: the shared backend neither confirmed nor withdrew it")
		writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "outcome unknown: " + err.Error() +
			"; the change may or may not have been made: check before retrying"})
	case errors.Is(err, core.ErrUnavailable):
		s.log.Warn().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("refused: the shared backend is unavailable")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "service unavailable: " + err.Error() + "; retry later"})
	default:
		s.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("request failed")
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
	}
}

// messageLimitError is the 422 body of a message the hub refused as too
// large: keyed by its index in the body's list, as the other field errors
// of /message, or not keyed when the body was a single object.
func messageLimitError(le *core.LimitError, index int, single bool) FieldErrors {
	fe := FieldErrors{le.Field: []string{le.Reason}}
	if single {
		return fe
	}
	return FieldErrors{strconv.Itoa(index): fe}
}
