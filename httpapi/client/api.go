package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// Connect creates a connection for a user (POST /connect), or reuses the
// one named by ConnID.
func (c *Client) Connect(ctx context.Context, req ConnectRequest) (*ConnectAnswer, error) {
	var out ConnectAnswer
	if err := c.Do(ctx, http.MethodPost, "/connect", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Subscribe adds a connection to channels (POST /subscribe), creating the
// channels that do not exist.
func (c *Client) Subscribe(ctx context.Context, req SubscribeRequest) (*SubscribeAnswer, error) {
	var out SubscribeAnswer
	if err := c.Do(ctx, http.MethodPost, "/subscribe", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Unsubscribe removes a connection from channels (POST /unsubscribe).
func (c *Client) Unsubscribe(ctx context.Context, req SubscribeRequest) (*UnsubscribeAnswer, error) {
	var out UnsubscribeAnswer
	if err := c.Do(ctx, http.MethodPost, "/unsubscribe", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UserState changes a user's state and public keys (POST /user_state).
func (c *Client) UserState(ctx context.Context, req UserStateRequest) (*UserStateAnswer, error) {
	var out UserStateAnswer
	if err := c.Do(ctx, http.MethodPost, "/user_state", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Send publishes messages (POST /message) and returns them as the server
// accepted them (with uuid and timestamp). The server delivers them before
// it answers; messages with neither Channel nor PMUsers are dropped.
func (c *Client) Send(ctx context.Context, msgs ...Message) ([]Message, error) {
	return c.messages(ctx, http.MethodPost, msgs)
}

// Edit changes sent messages (PATCH /message) and tells their receivers.
func (c *Client) Edit(ctx context.Context, msgs ...Message) ([]Message, error) {
	return c.messages(ctx, http.MethodPatch, msgs)
}

// Delete removes sent messages (DELETE /message) and tells their receivers.
func (c *Client) Delete(ctx context.Context, msgs ...Message) ([]Message, error) {
	return c.messages(ctx, http.MethodDelete, msgs)
}

func (c *Client) messages(ctx context.Context, method string, msgs []Message) ([]Message, error) {
	if msgs == nil {
		msgs = []Message{}
	}
	var out []Message
	if err := c.Do(ctx, method, "/message", msgs, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ConfigureChannels sets the settings of channels, creating those that do
// not exist (POST /channel_config). Every setting is applied: start from
// DefaultChannelConfig.
func (c *Client) ConfigureChannels(ctx context.Context, configs map[string]ChannelConfig) (*ChannelsInfo, error) {
	if configs == nil {
		configs = map[string]ChannelConfig{}
	}
	var out ChannelsInfo
	if err := c.Do(ctx, http.MethodPost, "/channel_config", configs, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Info describes channels and their users (POST /info).
func (c *Client) Info(ctx context.Context, opts InfoOptions) (*ChannelsInfo, error) {
	var out ChannelsInfo
	body := struct {
		Info InfoOptions `json:"info"`
	}{opts}
	if err := c.Do(ctx, http.MethodPost, "/info", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Disconnect ends a connection (POST /disconnect) and reports whether the
// server knew it.
func (c *Client) Disconnect(ctx context.Context, connID string) (bool, error) {
	var known bool
	body := map[string]string{"conn_id": connID}
	if err := c.Do(ctx, http.MethodPost, "/disconnect", body, &known); err != nil {
		return false, err
	}
	return known, nil
}

// Ready asks GET /readyz whether the node takes traffic: nil when it
// does, an *Error (503 with the reason) when it does not.
func (c *Client) Ready(ctx context.Context) error {
	return c.Do(ctx, http.MethodGet, "/readyz", nil, nil)
}

// AttachURL returns the URL a transport attaches to connection connID:
// transport "ws" (ws:// or wss://), "sse" or "longpoll". lastSeq > 0 asks
// for what came after that seq (for SSE as ?last_event_id=).
func (c *Client) AttachURL(transport, connID string, lastSeq uint64) string {
	q := url.Values{"conn_id": {connID}}
	base := c.cfg.BaseURL
	var path string
	switch transport {
	case "ws":
		path = "/ws"
		if len(base) >= 4 && base[:4] == "http" {
			base = "ws" + base[4:]
		}
	case "sse":
		path = "/sse"
	default:
		path = "/listen"
	}
	if lastSeq > 0 {
		key := "last_seq"
		if transport == "sse" {
			key = "last_event_id"
		}
		q.Set(key, strconv.FormatUint(lastSeq, 10))
	}
	return base + path + "?" + q.Encode()
}
