package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// restTimeout bounds every REST call.
const restTimeout = 30 * time.Second

// channelstreamTransports are the transports of channelstream-go (Python
// channelstream 0.7 has ws and longpoll only).
var channelstreamTransports = []string{"ws", "sse", "longpoll"}

// channelstream is the adapter for channelstream (Python or Go): signed
// REST /connect and /message, subscribers over /ws, /sse or /listen.
type channelstream struct {
	cfg  AdapterConfig
	dial *dialer
	api  *client.Client // signed REST calls over pool
	pool *http.Client   // a small keep-alive pool
}

func newChannelstream(cfg AdapterConfig) (*channelstream, error) {
	if err := checkTransport(cfg.Transport, channelstreamTransports); err != nil {
		return nil, err
	}
	dl := newDialer(cfg.SourceIPs)
	a := &channelstream{cfg: cfg, dial: dl}
	a.pool = &http.Client{Timeout: restTimeout, Transport: &http.Transport{
		DialContext:         dl.DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
	a.api = client.New(client.Config{BaseURL: cfg.BaseURL, Secret: cfg.Secret, HTTPClient: a.pool})
	return a, nil
}

// call POSTs body to path with the signature and returns the answer.
func (a *channelstream) call(ctx context.Context, path string, body []byte) ([]byte, error) {
	var out json.RawMessage
	if err := a.api.Do(ctx, http.MethodPost, path, json.RawMessage(body), &out); err != nil {
		return nil, classifyDialErr(err)
	}
	return out, nil
}

// connect creates the connection of subscriber i in channels and returns
// its conn_id. Users and history are left out of the answer: with them
// every /connect would list every user of the channel.
func (a *channelstream) connect(ctx context.Context, i int, channels []string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"username": userName(i),
		"channels": channels,
		"info":     map[string]bool{"include_users": false, "include_history": false},
	})
	out, err := a.call(ctx, "/connect", body)
	if err != nil {
		return "", err
	}
	var res struct {
		ConnID string `json:"conn_id"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.ConnID == "" {
		return "", fmt.Errorf("POST /connect: no conn_id in %.200s", out)
	}
	return res.ConnID, nil
}

// Subscribe implements Adapter.
func (a *channelstream) Subscribe(ctx context.Context, i int, channels []string, rec *Receiver) (Subscriber, error) {
	id, err := a.connect(ctx, i, channels)
	if err != nil {
		return nil, err
	}
	base := a.cfg.BaseURL
	if a.cfg.AttachURL != "" {
		base = a.cfg.AttachURL
	}
	switch a.cfg.Transport {
	case "ws":
		url := "ws" + strings.TrimPrefix(base, "http") + "/ws?conn_id=" + id
		return dialWS(ctx, a.dial, url, nil, rec)
	case "sse":
		return dialSSE(ctx, a.dial, base, id, rec)
	default:
		return startPoll(ctx, a.dial, base, id, rec)
	}
}

// Publish implements Adapter.
func (a *channelstream) Publish(ctx context.Context, channel string, message []byte) error {
	body := make([]byte, 0, 96+len(message))
	body = append(body, `[{"user":"csbench","channel":`...)
	ch, _ := json.Marshal(channel)
	body = append(body, ch...)
	body = append(body, `,"message":`...)
	body = append(body, message...)
	body = append(body, "}]"...)
	_, err := a.call(ctx, "/message", body)
	return err
}

// Close implements Adapter.
func (a *channelstream) Close() {
	a.pool.CloseIdleConnections()
}
