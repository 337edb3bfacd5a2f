package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"

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

func (s *Server) connect(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := decodeConnect(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.hub.Connect(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// subscription decodes a subscribe or unsubscribe body. Upstream validates
// the connection inside the schema, so an unknown connection is reported
// together with the other field errors.
func (s *Server) subscription(w http.ResponseWriter, r *http.Request,
	decode func([]byte, string) (core.SubscribeParams, error)) (core.SubscribeParams, bool) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return core.SubscribeParams{}, false
	}
	p, err := decode(body, r.URL.Query().Get("conn_id"))
	var fields FieldErrors
	if errors.As(err, &fields) {
		if _, bad := fields["conn_id"]; !bad && !s.hub.HasConn(p.ConnID) {
			fields["conn_id"] = []string{"Unknown connection"}
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return core.SubscribeParams{}, false
	}
	return p, true
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	p, ok := s.subscription(w, r, decodeSubscribe)
	if !ok {
		return
	}
	res, err := s.hub.Subscribe(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	p, ok := s.subscription(w, r, decodeUnsubscribe)
	if !ok {
		return
	}
	res, err := s.hub.Unsubscribe(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) userState(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := decodeUserState(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.hub.SetUserState(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// messages serves POST (send), PATCH (edit) and DELETE /message: the
// accepted messages are echoed once they are routed.
func (s *Server) messages(kind core.MessageKind) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		body, err := s.readBody(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		msgs, echo, err := decodeMessages(body, kind, s.cfg.Now())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.hub.Publish(r.Context(), msgs)
		if echo == nil {
			echo = []json.RawMessage{}
		}
		writeJSON(w, http.StatusOK, echo)
	}
}

func (s *Server) channelConfig(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	configs, err := decodeChannelConfig(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.hub.ConfigureChannels(r.Context(), configs))
}

func (s *Server) info(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, err := decodeInfo(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.hub.Info(r.Context(), opts))
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
	writeJSON(w, http.StatusOK, s.hub.Disconnect(r.Context(), id))
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

// adminJSON serves upstream's admin.json.
func (s *Server) adminJSON(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	a := s.hub.Admin(r.Context())
	writeJSON(w, http.StatusOK, struct {
		core.AdminInfo
		Version string `json:"version"`
	}{a, s.cfg.Version})
}

// adminDebug dumps the running goroutines as plain text (upstream dumps its
// greenlets here).
func adminDebug(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_ = pprof.Lookup("goroutine").WriteTo(w, 1)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	if s.hub.Draining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "draining: the server is shutting down"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
