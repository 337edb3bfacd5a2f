package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/channelstream-go/channelstream-go/core"
)

// readBody reads the request body within the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, &BadRequest{Msg: fmt.Sprintf("read request body: %v", err)}
	}
	return b, nil
}

// endpoint builds a handler that reads the body, decodes it, runs the hub
// call and writes its result; every failure goes through writeError.
func endpoint[P, R any](s *Server, decode func(*http.Request, []byte) (P, error),
	do func(context.Context, P) (R, error)) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		body, err := s.readBody(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		p, err := decode(r, body)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		res, err := do(r.Context(), p)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// bodyOnly adapts a decoder that needs nothing but the body.
func bodyOnly[P any](decode func([]byte) (P, error)) func(*http.Request, []byte) (P, error) {
	return func(_ *http.Request, body []byte) (P, error) { return decode(body) }
}

// subscription decodes a subscribe or unsubscribe body, with conn_id
// falling back to the query string. Upstream validates the connection
// inside the schema, so an unknown connection is reported together with
// the other field errors.
func (s *Server) subscription(decode func([]byte, string) (core.SubscribeParams, error)) func(*http.Request, []byte) (core.SubscribeParams, error) {
	return func(r *http.Request, body []byte) (core.SubscribeParams, error) {
		p, err := decode(body, r.URL.Query().Get("conn_id"))
		var fields FieldErrors
		if errors.As(err, &fields) {
			if _, bad := fields["conn_id"]; !bad && !s.hub.HasConn(p.ConnID) {
				fields["conn_id"] = []string{"Unknown connection"}
			}
		}
		return p, err
	}
}

// userState decodes a /user_state body. Upstream validates the user inside
// the schema, so an unknown user is reported together with the other field
// errors (an invalid state value, say).
func (s *Server) userState(_ *http.Request, body []byte) (core.UserStateParams, error) {
	p, err := decodeUserState(body)
	var fields FieldErrors
	if errors.As(err, &fields) {
		if _, bad := fields["user"]; !bad && !s.hub.HasUser(p.User) {
			fields["user"] = []string{"Unknown user"}
		}
	}
	return p, err
}

// messages serves POST (send), PATCH (edit) and DELETE /message: the
// accepted messages are routed, then echoed. A message the hub refuses
// (too large) is reported at its position in the body.
func (s *Server) messages(kind core.MessageKind) httprouter.Handle {
	decode := func(_ *http.Request, body []byte) (decodedMessages, error) {
		return decodeMessageList(body, kind, s.cfg.Now())
	}
	return endpoint(s, decode, func(ctx context.Context, d decodedMessages) ([]json.RawMessage, error) {
		if err := s.hub.Publish(ctx, d.msgs); err != nil {
			var le *core.LimitError
			if errors.As(err, &le) && le.Index >= 0 && le.Index < len(d.index) {
				return nil, messageLimitError(le, d.index[le.Index], d.single)
			}
			return nil, err
		}
		if d.echo == nil {
			d.echo = []json.RawMessage{}
		}
		return d.echo, nil
	})
}

// disconnect reads conn_id from the JSON body of a POST and from the query
// string otherwise, and answers whether the connection was known.
func (s *Server) disconnect(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var (
		id  string
		err error
	)
	if r.Method == http.MethodPost {
		var body []byte
		if body, err = s.readBody(w, r); err == nil {
			id, err = decodeDisconnect(body)
		}
	} else {
		id, err = connIDFromQuery(r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	known, err := s.hub.Disconnect(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, known)
}

// connIDFromQuery validates ?conn_id= like upstream's schema does.
func connIDFromQuery(r *http.Request) (string, error) {
	q := r.URL.Query()
	if !q.Has("conn_id") {
		return "", FieldErrors{"conn_id": []string{"Field may not be null."}}
	}
	id, ok := parseConnID(q.Get("conn_id"))
	if !ok {
		return "", FieldErrors{"conn_id": []string{"Not a valid UUID."}}
	}
	return id, nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if s.hub.Draining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "draining: the server is shutting down"})
		return
	}
	if err := s.hub.Ready(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
