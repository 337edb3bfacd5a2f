package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The demo's actions: each checks the browser's request, takes the user
// from the demo's own records and makes the signed REST call. Every answer
// is the REST API's, passed through.

// connect handles POST /demo/connect {username, channels, color} (or
// upstream's {username, channels, state: {color}}): a new user starts with
// upstream's demo state, the colour is merged every time, other users see
// only the public keys, and pub_chan and notify get upstream's demo
// settings when this call creates them. A welcome message follows.
func (d *demo) connect(r *http.Request) (int, []byte, error) {
	var in struct {
		Username string         `json:"username"`
		Channels []string       `json:"channels"`
		Color    string         `json:"color"`
		State    map[string]any `json:"state"`
	}
	if err := demoDecode(r, &in); err != nil {
		return 0, nil, err
	}
	name, err := demoName(in.Username)
	if err != nil {
		return 0, nil, err
	}
	channels, err := demoChannels(in.Channels, 0)
	if err != nil {
		return 0, nil, err
	}
	colour := in.Color
	if c, ok := in.State["color"].(string); ok && colour == "" {
		colour = c
	}
	if colour == "" {
		colour = demoDefaultHue
	}
	if !demoColour.MatchString(colour) {
		return 0, nil, demoErr(http.StatusUnprocessableEntity, "a colour is written #rrggbb")
	}
	d.connectMu.Lock()
	defer d.connectMu.Unlock()
	if err := d.roomFor(r.Context(), name); err != nil {
		return 0, nil, err
	}
	status, body, err := d.call(r.Context(), http.MethodPost, "/connect", map[string]any{
		"username": name,
		"channels": channels,
		"fresh_user_state": map[string]any{
			"email": nil, "status": "online", "private": "only the demo backend sees this", "bar": 1,
		},
		"user_state":        map[string]any{"color": strings.ToLower(colour)},
		"state_public_keys": demoPublicKeys,
		"channel_configs":   demoConfigs(channels),
		"info":              demoInfo,
	})
	if err != nil || status != http.StatusOK {
		return status, body, err
	}
	var res struct {
		ConnID string `json:"conn_id"`
	}
	if err := json.Unmarshal(body, &res); err != nil || res.ConnID == "" {
		return 0, nil, demoErr(http.StatusBadGateway, "the API answered /connect without a conn_id")
	}
	d.conns.put(res.ConnID, name)
	d.welcome(name)
	return status, body, nil
}

// roomFor forgets the connections that are gone, and refuses a new user
// when the demo hub already remembers demoMaxUsers (a connected user may
// always connect again, up to the hub's demoConnsPerUser). Caller holds
// connectMu.
func (d *demo) roomFor(ctx context.Context, name string) error {
	if d.live != nil {
		d.conns.prune(d.live)
	}
	if d.hub == nil {
		return nil
	}
	a := d.hub.Admin(ctx)
	if a.RememberedUserCount < demoMaxUsers {
		return nil
	}
	for _, u := range a.Users {
		if u.User == name {
			return nil
		}
	}
	return demoErr(http.StatusTooManyRequests, "the demo has %d users, its most; try again later", demoMaxUsers)
}

// disconnect handles POST /demo/disconnect {conn_id} (the client
// library's pagehide beacon) and GET /demo/disconnect?conn_id=: it ends
// a connection of the demo hub at once, unsigned, as upstream's
// /disconnect does.
func (d *demo) disconnect(r *http.Request) (int, []byte, error) {
	var in struct {
		ConnID string `json:"conn_id"`
	}
	if r.Method == http.MethodGet {
		in.ConnID = r.URL.Query().Get("conn_id")
	} else if err := demoDecode(r, &in); err != nil {
		return 0, nil, err
	}
	status, body, err := d.call(r.Context(), http.MethodPost, "/disconnect", map[string]any{"conn_id": in.ConnID})
	if err == nil && status == http.StatusOK {
		d.conns.forget(in.ConnID)
	}
	return status, body, err
}

// welcome sends name, after welcomeDelay, upstream's welcome: a private
// message in pub_chan that history does not keep.
func (d *demo) welcome(name string) {
	time.AfterFunc(d.welcomeDelay, func() {
		status, body, err := d.call(context.Background(), http.MethodPost, "/message", []map[string]any{{
			"user": demoSystemUser, "channel": "pub_chan", "pm_users": []string{name}, "no_history": true,
			"message": map[string]any{"text": demoWelcomeText},
		}})
		if err != nil || status != http.StatusOK {
			d.log.Warn().Err(err).Int("status", status).Bytes("answer", body).Msg("demo welcome message not sent")
		}
	})
}

// subscription is the body of /demo/subscribe and /demo/unsubscribe, as
// the client library sends it.
type subscription struct {
	ConnID   string   `json:"conn_id"`
	Channels []string `json:"channels"`
}

// subscribe handles POST /demo/subscribe {conn_id, channels}.
func (d *demo) subscribe(r *http.Request) (int, []byte, error) {
	var in subscription
	if err := demoDecode(r, &in); err != nil {
		return 0, nil, err
	}
	if _, err := d.user(in.ConnID, ""); err != nil {
		return 0, nil, err
	}
	channels, err := demoChannels(in.Channels, 1)
	if err != nil {
		return 0, nil, err
	}
	return d.call(r.Context(), http.MethodPost, "/subscribe", map[string]any{
		"conn_id": in.ConnID, "channels": channels, "channel_configs": demoConfigs(channels), "info": demoInfo,
	})
}

// unsubscribe handles POST /demo/unsubscribe {conn_id, channels}.
func (d *demo) unsubscribe(r *http.Request) (int, []byte, error) {
	var in subscription
	if err := demoDecode(r, &in); err != nil {
		return 0, nil, err
	}
	if _, err := d.user(in.ConnID, ""); err != nil {
		return 0, nil, err
	}
	channels, err := demoChannels(in.Channels, 1)
	if err != nil {
		return 0, nil, err
	}
	return d.call(r.Context(), http.MethodPost, "/unsubscribe", map[string]any{
		"conn_id": in.ConnID, "channels": channels, "info": demoInfo,
	})
}

// userState handles POST /demo/user_state as the client library's
// updateUserState sends it: {username, conn_id, update_state: {user_state:
// {color, status}}} (update_state may also hold the keys directly). Only
// color and status may change.
func (d *demo) userState(r *http.Request) (int, []byte, error) {
	var in struct {
		Username    string         `json:"username"`
		ConnID      string         `json:"conn_id"`
		UpdateState map[string]any `json:"update_state"`
	}
	if err := demoDecode(r, &in); err != nil {
		return 0, nil, err
	}
	name, err := d.user(in.ConnID, in.Username)
	if err != nil {
		return 0, nil, err
	}
	update := in.UpdateState
	if inner, ok := update["user_state"].(map[string]any); ok {
		update = inner
	}
	state := map[string]any{}
	for k, v := range update {
		s, _ := v.(string)
		switch {
		case k == "color" && demoColour.MatchString(s):
			state[k] = strings.ToLower(s)
		case k == "status" && demoStatus(s):
			state[k] = s
		default:
			return 0, nil, demoErr(http.StatusUnprocessableEntity, "only color (#rrggbb) and status (up to %d characters) may change", demoNameMax)
		}
	}
	if len(state) == 0 {
		return 0, nil, demoErr(http.StatusUnprocessableEntity, "nothing to change: send update_state {user_state: {color}}")
	}
	return d.call(r.Context(), http.MethodPost, "/user_state", map[string]any{"user": name, "user_state": state})
}

func demoStatus(s string) bool {
	if n := utf8.RuneCountInString(s); n == 0 || n > demoNameMax {
		return false
	}
	return strings.IndexFunc(s, func(c rune) bool { return !unicode.IsPrint(c) }) < 0
}

// message handles /demo/message: POST {conn_id, channel | to, message:
// {text}} sends to a channel or privately to one user (and a copy to the
// sender); PATCH {conn_id, uuid, message: {text}} edits and DELETE
// {conn_id, uuid} deletes one of the sender's own messages, with the
// routing the demo remembers.
func (d *demo) message(r *http.Request) (int, []byte, error) {
	var in struct {
		ConnID  string `json:"conn_id"`
		User    string `json:"user"`
		Channel string `json:"channel"`
		To      string `json:"to"`
		UUID    string `json:"uuid"`
		Message struct {
			Text string `json:"text"`
		} `json:"message"`
	}
	if err := demoDecode(r, &in); err != nil {
		return 0, nil, err
	}
	name, err := d.user(in.ConnID, in.User)
	if err != nil {
		return 0, nil, err
	}
	if r.Method == http.MethodPost {
		return d.send(r.Context(), name, in.Channel, in.To, in.Message.Text)
	}
	m, ok := d.msgs.get(in.UUID)
	switch {
	case in.UUID == "":
		return 0, nil, demoErr(http.StatusUnprocessableEntity, "name the message's uuid")
	case !ok:
		return 0, nil, demoErr(http.StatusNotFound, "message %s was not sent through this demo", in.UUID)
	case m.author != name:
		return 0, nil, demoErr(http.StatusForbidden, "message %s is %q's: you may change only your own", in.UUID, m.author)
	}
	el := m.route(map[string]any{"uuid": in.UUID})
	if r.Method == http.MethodDelete {
		status, body, err := d.call(r.Context(), http.MethodDelete, "/message", []map[string]any{el})
		if err == nil && status == http.StatusOK {
			d.msgs.forget(in.UUID)
		}
		return status, body, err
	}
	text, err := demoText(in.Message.Text)
	if err != nil {
		return 0, nil, err
	}
	el["user"], el["message"] = name, m.body(text)
	return d.call(r.Context(), http.MethodPatch, "/message", []map[string]any{el})
}

// send posts a new message and remembers who wrote it.
func (d *demo) send(ctx context.Context, name, channel, to, text string) (int, []byte, error) {
	text, err := demoText(text)
	if err != nil {
		return 0, nil, err
	}
	m := demoMessage{author: name}
	switch {
	case (channel == "") == (to == ""):
		return 0, nil, demoErr(http.StatusUnprocessableEntity, "name either a channel or a user (to)")
	case channel != "":
		if _, err := demoChannels([]string{channel}, 1); err != nil {
			return 0, nil, err
		}
		m.channel = channel
	default:
		if m.to, err = demoName(to); err != nil {
			return 0, nil, err
		}
	}
	el := m.route(map[string]any{"user": name, "message": m.body(text)})
	status, body, err := d.call(ctx, http.MethodPost, "/message", []map[string]any{el})
	if err != nil || status != http.StatusOK {
		return status, body, err
	}
	var sent []struct {
		UUID string `json:"uuid"`
	}
	if err := json.Unmarshal(body, &sent); err != nil {
		return 0, nil, demoErr(http.StatusBadGateway, "the API answered /message with %q", body)
	}
	for _, s := range sent {
		d.msgs.put(s.UUID, m)
	}
	return status, body, nil
}

func demoText(s string) (string, error) {
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n == 0 || n > demoTextMax {
		return "", demoErr(http.StatusUnprocessableEntity, "a message has 1 to %d characters", demoTextMax)
	}
	return s, nil
}

// route adds the message's channel, or for a private message its
// recipients (the addressee and the author, who sees their own copy).
func (m demoMessage) route(el map[string]any) map[string]any {
	if m.channel != "" {
		el["channel"] = m.channel
		return el
	}
	pm := []string{m.to}
	if m.author != m.to {
		pm = append(pm, m.author)
	}
	el["pm_users"] = pm
	return el
}

// body is the message object: the text, and for a private message the
// addressee, which the browsers need to file it (deliveries drop pm_users).
func (m demoMessage) body(text string) map[string]any {
	if m.channel != "" {
		return map[string]any{"text": text}
	}
	return map[string]any{"text": text, "to": m.to}
}
