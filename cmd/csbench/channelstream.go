package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi"
)

// restTimeout bounds every REST call.
const restTimeout = 30 * time.Second

// tokenRefresh is how often the API token is re-signed (tokens expire
// after 60 s on the server).
const tokenRefresh = 10 * time.Second

// channelstreamTransports are the transports of channelstream-go (Python
// channelstream 0.7 has ws and longpoll only).
var channelstreamTransports = []string{"ws", "sse", "longpoll"}

// channelstream is the adapter for channelstream (Python or Go): signed
// REST /connect and /message, subscribers over /ws, /sse or /listen.
type channelstream struct {
	cfg  AdapterConfig
	dial *dialer
	api  *http.Client // REST calls, a small keep-alive pool

	tokMu  sync.Mutex
	tok    string
	tokAge time.Time
}

func newChannelstream(cfg AdapterConfig) (*channelstream, error) {
	if err := checkTransport(cfg.Transport, channelstreamTransports); err != nil {
		return nil, err
	}
	dl := newDialer(cfg.SourceIPs)
	a := &channelstream{cfg: cfg, dial: dl}
	a.api = &http.Client{Timeout: restTimeout, Transport: &http.Transport{
		DialContext:         dl.DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
	return a, nil
}

// token returns a fresh itsdangerous TimestampSigner token of "channelstream".
func (a *channelstream) token() string {
	a.tokMu.Lock()
	defer a.tokMu.Unlock()
	if now := time.Now(); a.tok == "" || now.Sub(a.tokAge) > tokenRefresh {
		a.tok, a.tokAge = httpapi.Sign(a.cfg.Secret, "channelstream", now), now
	}
	return a.tok
}

// call POSTs body to path with the signature and returns the answer.
func (a *channelstream) call(ctx context.Context, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-channelstream-secret", a.token())
	resp, err := a.api.Do(req)
	if err != nil {
		return nil, classifyDialErr(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("POST %s: read answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s: %.200s", path, resp.Status, out)
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
	a.api.CloseIdleConnections()
}
