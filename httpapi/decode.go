package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/channelstream-go/channelstream-go/core"
)

// Request bodies are JSON whatever their Content-Type. Each decoder returns a
// *BadRequest when the body is not one JSON value (400) and FieldErrors when
// it is JSON that the upstream schema rejects (422). Unknown keys are ignored
// (channelstream 0.7.1) except on /message, see decode_message.go.
//
// With FieldErrors, decodeConnect, decodeSubscribe, decodeUnsubscribe and
// decodeUserState still return the params with every field that did
// validate (the others at their defaults), so that a handler can add the
// hub's checks ("Unknown connection", "Unknown user") to the same body, as
// upstream's schema validators do.

// parseBody decodes body, which must hold exactly one JSON value, into dst
// (a *any or *json.RawMessage) with numbers kept as json.Number.
func parseBody(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return badJSON(dec, err, len(body))
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("unexpected data after the JSON value")
		}
		return badJSON(dec, err, len(body))
	}
	return nil
}

// badJSON builds the BadRequest of a decoding error, with the offset it happened at.
// A body that ends too early is reported at its end (size bytes).
func badJSON(dec *json.Decoder, err error, size int) *BadRequest {
	off := dec.InputOffset()
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		off = syn.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("unexpected end of JSON input")
		off = int64(size)
	}
	return &BadRequest{Msg: fmt.Sprintf("invalid JSON at offset %d: %v", off, err)}
}

// isEmpty reports whether body holds nothing but JSON whitespace.
func isEmpty(body []byte) bool {
	return len(bytes.Trim(body, " \t\r\n")) == 0
}

// readBody parses a body for an endpoint that treats an empty body as {}.
func readBody(body []byte) (any, error) {
	if isEmpty(body) {
		return map[string]any{}, nil
	}
	var v any
	if err := parseBody(body, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// readObject is readBody for a schema: a value that is not an object gives
// marshmallow's {"_schema": ["Invalid input type."]}.
func readObject(body []byte) (*object, error) {
	v, err := readBody(body)
	if err != nil {
		return nil, err
	}
	o, ok := newObject(v)
	if !ok {
		return nil, invalidInput()
	}
	return o, nil
}

// decodeConnect validates a POST /connect body (UPSTREAM §3.2). `user` is
// accepted in place of `username` (PROTOCOL §1). Info.Channels is validated
// but always nil: upstream ignores info.channels here.
func decodeConnect(body []byte) (core.ConnectParams, error) {
	o, err := readObject(body)
	if err != nil {
		return core.ConnectParams{}, err
	}
	p := core.ConnectParams{
		Channels:        []string{},
		ChannelConfigs:  map[string]core.ChannelConfig{},
		FreshUserState:  core.State{},
		UserState:       core.State{},
		StatePublicKeys: []string{},
		Info:            core.DefaultInfoOptions(),
	}
	userKey := "username"
	if _, ok := o.m[userKey]; !ok {
		if _, ok := o.m["user"]; ok {
			userKey = "user"
		}
	}
	take(o, userKey, true, false, userName, &p.Username)
	take(o, "conn_id", false, false, uuidField, &p.ConnID)
	take(o, "channels", false, false, channelList, &p.Channels)
	take(o, "state_public_keys", false, false, channelList, &p.StatePublicKeys)
	take(o, "fresh_user_state", false, false, stateField, &p.FreshUserState)
	take(o, "user_state", false, false, stateField, &p.UserState)
	take(o, "channel_configs", false, false, channelConfigs, &p.ChannelConfigs)
	take(o, "info", false, false, infoOptions, &p.Info)
	p.Info.Channels = nil
	return p, o.err()
}

// decodeSubscribe validates a POST /subscribe body (UPSTREAM §3.3). When the
// body has no conn_id key, queryConnID (the ?conn_id= parameter, "" when
// absent) is used; neither gives {"conn_id": ["Field may not be null."]}.
// Info.Channels is always nil, as for connect.
func decodeSubscribe(body []byte, queryConnID string) (core.SubscribeParams, error) {
	o, err := readObject(body)
	if err != nil {
		return core.SubscribeParams{}, err
	}
	if _, ok := o.m["conn_id"]; !ok {
		// upstream: in_data.setdefault("conn_id", request.GET.get("conn_id"))
		if queryConnID != "" {
			o.m["conn_id"] = queryConnID
		} else {
			o.m["conn_id"] = nil
		}
	}
	p := core.SubscribeParams{
		ChannelConfigs: map[string]core.ChannelConfig{},
		Info:           core.DefaultInfoOptions(),
	}
	take(o, "conn_id", true, false, uuidField, &p.ConnID)
	take(o, "channels", true, false, nonEmpty(channelList), &p.Channels)
	take(o, "channel_configs", false, false, channelConfigs, &p.ChannelConfigs)
	take(o, "info", false, false, infoOptions, &p.Info)
	p.Info.Channels = nil
	return p, o.err()
}

// decodeUnsubscribe validates a POST /unsubscribe body: the subscribe schema
// (UPSTREAM §3.4); channel_configs is validated and returned but has no use.
func decodeUnsubscribe(body []byte, queryConnID string) (core.SubscribeParams, error) {
	return decodeSubscribe(body, queryConnID)
}

// decodeUserState validates a POST /user_state body (UPSTREAM §3.5).
// state_public_keys absent or null keeps the current keys (SetPublicKeys false).
func decodeUserState(body []byte) (core.UserStateParams, error) {
	o, err := readObject(body)
	if err != nil {
		return core.UserStateParams{}, err
	}
	p := core.UserStateParams{State: core.State{}}
	take(o, "user", true, false, userName, &p.User)
	take(o, "user_state", false, false, stateField, &p.State)
	p.SetPublicKeys = take(o, "state_public_keys", false, true, channelList, &p.PublicKeys)
	return p, o.err()
}

// decodeChannelConfig validates a POST /channel_config body (UPSTREAM §3.9):
// an object of channel name to settings, omitted settings at their defaults.
// A body that is not an object is a BadRequest (PROTOCOL §2 #1). Each value is
// validated on its own; the errors of the first failing channel in name order
// are returned as they are, not nested under the name. Names are not checked.
func decodeChannelConfig(body []byte) (map[string]core.ChannelConfig, error) {
	v, err := readBody(body)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &BadRequest{Msg: "request body must be a JSON object of channel name to settings"}
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]core.ChannelConfig, len(m))
	for _, name := range names {
		cfg, errs := channelConfig(m[name])
		if errs != nil {
			return nil, errs
		}
		out[name] = cfg
	}
	return out, nil
}

// decodeInfo validates an /info body (UPSTREAM §3.10). An empty body asks for
// every channel with the defaults; otherwise the object's "info" is required.
// Info.Channels is nil when info.channels is absent (every channel) and
// non-nil, possibly empty, when it is given.
func decodeInfo(body []byte) (core.InfoOptions, error) {
	if isEmpty(body) {
		return core.DefaultInfoOptions(), nil
	}
	o, err := readObject(body)
	if err != nil {
		return core.InfoOptions{}, err
	}
	info := core.DefaultInfoOptions()
	take(o, "info", true, false, infoOptions, &info)
	if err := o.err(); err != nil {
		return core.InfoOptions{}, err
	}
	return info, nil
}

// decodeDisconnect validates a POST /disconnect body {"conn_id": uuid}
// (UPSTREAM §3.11) and returns the canonical id. An empty body or one that is
// not an object is a BadRequest (upstream 500); a missing conn_id is reported
// as null, as upstream does.
func decodeDisconnect(body []byte) (string, error) {
	if isEmpty(body) {
		return "", &BadRequest{Msg: `empty request body: expected {"conn_id": "<uuid>"}`}
	}
	var v any
	if err := parseBody(body, &v); err != nil {
		return "", err
	}
	o, ok := newObject(v)
	if !ok {
		return "", &BadRequest{Msg: `request body must be a JSON object: {"conn_id": "<uuid>"}`}
	}
	var id string
	if c, ok := o.m["conn_id"]; ok && c != nil {
		id, _ = uuidField(c)
		if id == "" {
			o.errs["conn_id"] = fail(msgNotUUID)
		}
	} else {
		o.errs["conn_id"] = fail(msgNull)
	}
	if err := o.err(); err != nil {
		return "", err
	}
	return id, nil
}

// parseConnID returns the canonical lowercase dashed form of a connection id
// given in any form Python's uuid.UUID accepts (dashed, 32 hex digits, in
// braces, with a urn:uuid: prefix, any case); ok is false for anything else.
func parseConnID(s string) (string, bool) {
	return core.ParseUUID(s)
}

// infoOptions validates the nested InfoResolutionSchema. include_connections
// is validated and ignored.
func infoOptions(v any) (core.InfoOptions, fieldError) {
	o, ok := newObject(v)
	if !ok {
		return core.InfoOptions{}, invalidInput()
	}
	info := core.DefaultInfoOptions()
	var ignored bool
	take(o, "channels", false, false, channelList, &info.Channels)
	take(o, "exclude_channels", false, false, channelList, &info.ExcludeChannels)
	take(o, "include_history", false, false, boolean, &info.IncludeHistory)
	take(o, "include_users", false, false, boolean, &info.IncludeUsers)
	take(o, "return_public_state", false, false, boolean, &info.ReturnPublicState)
	take(o, "include_connections", false, false, boolean, &ignored)
	if len(o.errs) > 0 {
		return core.InfoOptions{}, o.errs
	}
	return info, nil
}

// channelConfigs validates the channel_configs map of connect and subscribe:
// each value's errors are nested as {"<name>": {"value": ...}}.
func channelConfigs(v any) (map[string]core.ChannelConfig, fieldError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fail(msgNotMapping)
	}
	out := make(map[string]core.ChannelConfig, len(m))
	var errs FieldErrors
	for name, x := range m {
		var e fieldError
		if x == nil {
			e = fail(msgNull)
		} else if cfg, ce := channelConfig(x); ce != nil {
			e = ce
		} else {
			out[name] = cfg
		}
		if e != nil {
			if errs == nil {
				errs = FieldErrors{}
			}
			errs[name] = FieldErrors{"value": e}
		}
	}
	if errs != nil {
		return nil, errs
	}
	return out, nil
}

// channelConfig validates one ChannelConfigSchema object (UPSTREAM §5.2);
// omitted keys get core.DefaultChannelConfig's values.
func channelConfig(v any) (core.ChannelConfig, FieldErrors) {
	o, ok := newObject(v)
	if !ok {
		return core.ChannelConfig{}, invalidInput()
	}
	cfg := core.DefaultChannelConfig()
	take(o, "notify_presence", false, false, boolean, &cfg.NotifyPresence)
	take(o, "store_history", false, false, boolean, &cfg.StoreHistory)
	take(o, "history_size", false, false, nonNegative, &cfg.HistorySize)
	take(o, "broadcast_presence_with_user_lists", false, false, boolean, &cfg.BroadcastPresenceWithUserLists)
	take(o, "notify_state", false, false, boolean, &cfg.NotifyState)
	take(o, "store_frames", false, false, boolean, &cfg.StoreFrames)
	if len(o.errs) > 0 {
		return core.ChannelConfig{}, o.errs
	}
	return cfg, nil
}
