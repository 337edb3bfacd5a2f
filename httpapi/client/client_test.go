package client_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	url, stop := startNode("test-secret")
	t.Cleanup(stop)
	cfg.BaseURL = url + "/"
	if cfg.Secret == "" {
		cfg.Secret = "test-secret"
	}
	return client.New(cfg)
}

func TestConnectSubscribeUnsubscribeAnswerTyped(t *testing.T) {
	c := newClient(t, client.Config{})
	ctx := t.Context()
	conn, err := c.Connect(ctx, client.ConnectRequest{
		Username:       "alice",
		Channels:       []string{"b", "a"},
		ChannelConfigs: map[string]client.ChannelConfig{"a": {NotifyPresence: true, HistorySize: 3, StoreFrames: true}},
		UserState:      client.State{"n": 1},
		Info:           client.InfoOptions{NoUsers: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if conn.Username != "alice" || len(conn.ConnID) != 36 || !slices.Equal(conn.Channels, []string{"a", "b"}) || conn.State["n"] != 1.0 {
		t.Fatalf("connect answer %+v", conn)
	}
	a := conn.ChannelsInfo.Channels["a"]
	if !a.Settings.NotifyPresence || a.Settings.HistorySize != 3 || a.TotalConnections != 1 || len(a.Users) != 0 {
		t.Fatalf("channel a: %+v (NoUsers must leave the user list out)", a)
	}
	sub, err := c.Subscribe(ctx, client.SubscribeRequest{ConnID: conn.ConnID, Channels: []string{"c", "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sub.SubscribedTo, []string{"c"}) || !slices.Equal(sub.Channels, []string{"a", "b", "c"}) ||
		!slices.Equal(sub.ChannelsInfo.Channels["c"].Users, []string{"alice"}) {
		t.Fatalf("subscribe answer %+v", sub)
	}
	unsub, err := c.Unsubscribe(ctx, client.SubscribeRequest{ConnID: conn.ConnID, Channels: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(unsub.UnsubscribedFrom, []string{"b"}) || !slices.Equal(unsub.Channels, []string{"a", "c"}) {
		t.Fatalf("unsubscribe answer %+v", unsub)
	}
	known, err := c.Disconnect(ctx, conn.ConnID)
	if err != nil || !known {
		t.Fatalf("Disconnect(known) = %v, %v; want true", known, err)
	}
	known, err = c.Disconnect(ctx, "11111111-1111-4111-8111-111111111111")
	if err != nil || known {
		t.Fatalf("Disconnect(unknown) = %v, %v; want false", known, err)
	}
}

func TestUserStateKeepsPublicKeysOnNilAndClearsThemOnEmpty(t *testing.T) {
	c := newClient(t, client.Config{})
	ctx := t.Context()
	if _, err := c.Connect(ctx, client.ConnectRequest{Username: "bob", UserState: client.State{"color": "red"}, StatePublicKeys: []string{"color"}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.UserState(ctx, client.UserStateRequest{User: "bob", UserState: client.State{"color": "blue"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.PublicKeys, []string{"color"}) || len(res.ChangedState) != 1 || res.ChangedState[0] != (client.StateChange{Key: "color", Value: "blue"}) {
		t.Fatalf("nil public keys: %+v, want them kept and color changed", res)
	}
	res, err = c.UserState(ctx, client.UserStateRequest{User: "bob", StatePublicKeys: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.PublicKeys) != 0 || res.UserState["color"] != "blue" {
		t.Fatalf("empty public keys: %+v, want them cleared", res)
	}
}

func TestSendEditDeleteEcho(t *testing.T) {
	c := newClient(t, client.Config{})
	ctx := t.Context()
	cfg := client.DefaultChannelConfig()
	cfg.StoreHistory = true
	if _, err := c.ConfigureChannels(ctx, map[string]client.ChannelConfig{"news": cfg}); err != nil {
		t.Fatal(err)
	}
	sent, err := c.Send(ctx,
		client.Message{User: "sys", Channel: "news", Message: map[string]any{"text": "one"}},
		client.Message{User: "sys", Channel: "news", Message: map[string]any{"text": "two"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 || sent[0].UUID == "" || sent[0].Timestamp == "" || sent[1].Message.(map[string]any)["text"] != "two" {
		t.Fatalf("send echo %+v", sent)
	}
	edited, err := c.Edit(ctx, client.Message{UUID: sent[0].UUID, Channel: "news", Message: map[string]any{"text": "uno"}})
	if err != nil || len(edited) != 1 || edited[0].Edited == "" {
		t.Fatalf("edit: %+v, %v", edited, err)
	}
	if _, err := c.Delete(ctx, client.Message{UUID: sent[1].UUID, Channel: "news"}); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx, client.InfoOptions{Channels: []string{"news"}})
	if err != nil {
		t.Fatal(err)
	}
	h := info.Channels["news"].History
	if len(h) != 1 || !strings.Contains(string(h[0]), `"uno"`) {
		t.Fatalf("history after edit and delete: %s", h)
	}
	info, err = c.Info(ctx, client.InfoOptions{Channels: []string{"news"}, NoHistory: true})
	if err != nil || len(info.Channels["news"].History) != 0 {
		t.Fatalf("NoHistory: %+v, %v", info, err)
	}
}

func TestRefusalsAreErrorsWithStatusAndBody(t *testing.T) {
	c := newClient(t, client.Config{})
	ctx := t.Context()
	tests := []struct {
		name   string
		err    error
		status int
		body   string
		msg    string
	}{
		{"a field error is 422 with the field", errOnly(c.Subscribe(ctx, client.SubscribeRequest{ConnID: "nope", Channels: []string{"a"}})),
			http.StatusUnprocessableEntity, `"conn_id":["Not a valid UUID."]`, ""},
		{"a wrong secret is 401", errOnly(client.New(client.Config{BaseURL: c.BaseURL(), Secret: "wrong"}).Info(ctx, client.InfoOptions{})),
			http.StatusUnauthorized, `"Bad Signature"`, ""},
		{"an expired token is 401", errOnly(client.New(client.Config{BaseURL: c.BaseURL(), Secret: "test-secret",
			Now: func() time.Time { return time.Now().Add(-2 * time.Minute) }}).Info(ctx, client.InfoOptions{})),
			http.StatusUnauthorized, `"Bad Signature"`, ""},
		{"malformed JSON is 400 with its error", c.Do(ctx, http.MethodPost, "/connect", []byte("{"), nil),
			http.StatusBadRequest, `"error":`, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *client.Error
			if !errors.As(tt.err, &e) {
				t.Fatalf("err = %v (%T), want a *client.Error", tt.err, tt.err)
			}
			if e.Status != tt.status || !strings.Contains(string(e.Body), tt.body) || !strings.Contains(e.Message(), tt.msg) {
				t.Fatalf("error %d %s (message %q), want %d with %s and message containing %q", e.Status, e.Body, e.Message(), tt.status, tt.body, tt.msg)
			}
			if !strings.Contains(e.Error(), string(e.Body)) || !strings.HasPrefix(e.Error(), e.Method+" "+e.Path+": ") {
				t.Fatalf("Error() = %q, want method, path and body", e.Error())
			}
		})
	}
}

func errOnly[T any](_ T, err error) error { return err }

func TestCallReturnsEveryStatusAndDoDecodes(t *testing.T) {
	c := newClient(t, client.Config{})
	status, answer, err := c.Call(t.Context(), http.MethodPost, "/subscribe", []byte(`{}`))
	if err != nil || status != http.StatusUnprocessableEntity || !strings.Contains(string(answer), "conn_id") {
		t.Fatalf("Call = %d %s %v, want 422 naming conn_id without an error", status, answer, err)
	}
	if err := c.Ready(t.Context()); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	var health map[string]string
	if err := c.Do(t.Context(), http.MethodGet, "/healthz", nil, &health); err != nil || health["status"] != "ok" {
		t.Fatalf("healthz = %v %v", health, err)
	}
}

func TestNetworkFailureIsNotAnError(t *testing.T) {
	url, stop := startNode("s")
	stop()
	_, err := client.New(client.Config{BaseURL: url}).Info(t.Context(), client.InfoOptions{})
	var e *client.Error
	if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), "POST /info") {
		t.Fatalf("err = %v, want a network error naming the call, not a *client.Error", err)
	}
}

func TestAnswerOverTheLimitFails(t *testing.T) {
	c := newClient(t, client.Config{MaxAnswerBytes: 10})
	if _, err := c.Info(t.Context(), client.InfoOptions{}); err == nil || !strings.Contains(err.Error(), "over 10 bytes") {
		t.Fatalf("err = %v, want the answer refused as too long", err)
	}
}

func TestAttachURL(t *testing.T) {
	const id = "11111111-1111-4111-8111-111111111111"
	for _, tt := range []struct {
		base, transport string
		seq             uint64
		want            string
	}{
		{"http://h:1", "ws", 0, "ws://h:1/ws?conn_id=" + id},
		{"https://h/p/", "ws", 7, "wss://h/p/ws?conn_id=" + id + "&last_seq=7"},
		{"https://h", "sse", 7, "https://h/sse?conn_id=" + id + "&last_event_id=7"},
		{"http://h", "longpoll", 3, "http://h/listen?conn_id=" + id + "&last_seq=3"},
	} {
		if got := client.New(client.Config{BaseURL: tt.base}).AttachURL(tt.transport, id, tt.seq); got != tt.want {
			t.Errorf("AttachURL(%s, %s, %d) = %s, want %s", tt.base, tt.transport, tt.seq, got, tt.want)
		}
	}
}
