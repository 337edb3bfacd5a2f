package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	gws "github.com/gorilla/websocket"
)

// centrifugoTransports are the transports of the Centrifugo adapter: its
// bidirectional JSON protocol over WebSocket.
var centrifugoTransports = []string{"ws"}

// centrifugoWSPath is Centrifugo's WebSocket endpoint.
const centrifugoWSPath = "/connection/websocket"

// centrifugo is the adapter for Centrifugo v6: every subscriber connects
// over WebSocket with an HS256 JWT whose sub is its user name, subscribes
// to its channels (allowed by allow_subscribe_for_client) and answers the
// server's {} pings; messages are published through the HTTP API
// (POST /api/publish with X-API-Key).
type centrifugo struct {
	cfg  AdapterConfig
	dial *dialer
	api  *http.Client
}

func newCentrifugo(cfg AdapterConfig) (*centrifugo, error) {
	if err := checkTransport(cfg.Transport, centrifugoTransports); err != nil {
		return nil, err
	}
	dl := newDialer(cfg.SourceIPs)
	return &centrifugo{cfg: cfg, dial: dl, api: &http.Client{Timeout: restTimeout, Transport: &http.Transport{
		DialContext:         dl.DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}}, nil
}

// Subscribe implements Adapter: connect and every subscribe go in one
// frame, then the replies are read before the reader starts.
func (a *centrifugo) Subscribe(ctx context.Context, i int, channels []string, rec *Receiver) (Subscriber, error) {
	url := "ws" + strings.TrimPrefix(a.cfg.BaseURL, "http") + centrifugoWSPath
	token := signJWT(a.cfg.Secret, map[string]any{"sub": userName(i)})
	setup := func(c *gws.Conn) error {
		deadline, ok := ctx.Deadline()
		if !ok || time.Until(deadline) > handshakeTimeout {
			deadline = time.Now().Add(handshakeTimeout)
		}
		_ = c.SetWriteDeadline(deadline)
		_ = c.SetReadDeadline(deadline)
		if err := c.WriteMessage(gws.TextMessage, centrifugoHandshake(token, channels)); err != nil {
			return fmt.Errorf("centrifugo: send connect: %w", err)
		}
		if err := awaitReplies(c, len(channels)+1); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Time{})
		return nil
	}
	return dialWS(ctx, a.dial, url, setup, rec)
}

// centrifugoHandshake returns the frame holding the connect command (id 1)
// and one subscribe command per channel (ids 2, 3, …), one per line.
func centrifugoHandshake(token string, channels []string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b) // Encode ends every command with \n
	_ = enc.Encode(map[string]any{"id": 1, "connect": map[string]string{"token": token, "name": "csbench"}})
	for k, ch := range channels {
		_ = enc.Encode(map[string]any{"id": k + 2, "subscribe": map[string]string{"channel": ch}})
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// awaitReplies reads frames until the replies to commands 1..n arrived,
// and fails on the first error reply.
func awaitReplies(c *gws.Conn, n int) error {
	got := map[int]bool{}
	for len(got) < n {
		_, frame, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("centrifugo: await connect and subscribe replies (%d of %d): %w", len(got), n, classifyDialErr(err))
		}
		sc := bufio.NewScanner(bytes.NewReader(frame))
		sc.Buffer(make([]byte, 0, 4096), len(frame)+1)
		for sc.Scan() {
			var r struct {
				ID    int `json:"id"`
				Error *struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if json.Unmarshal(sc.Bytes(), &r) != nil || r.ID == 0 {
				continue // a push or a ping
			}
			if r.Error != nil {
				return fmt.Errorf("centrifugo: command %d: error %d %s", r.ID, r.Error.Code, r.Error.Message)
			}
			got[r.ID] = true
		}
	}
	return nil
}

// Publish implements Adapter.
func (a *centrifugo) Publish(ctx context.Context, channel string, message []byte) error {
	ch, _ := json.Marshal(channel)
	body := make([]byte, 0, 32+len(ch)+len(message))
	body = append(append(append(body, `{"channel":`...), ch...), `,"data":`...)
	body = append(append(body, message...), '}')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.BaseURL+"/api/publish", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", a.cfg.APIKey)
	resp, err := a.api.Do(req)
	if err != nil {
		return classifyDialErr(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("POST /api/publish: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /api/publish: %s: %.200s", resp.Status, out)
	}
	var res struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("POST /api/publish: %w: %.200s", err, out)
	}
	if res.Error != nil {
		return fmt.Errorf("POST /api/publish: error %d %s", res.Error.Code, res.Error.Message)
	}
	return nil
}

// Close implements Adapter.
func (a *centrifugo) Close() { a.api.CloseIdleConnections() }

// signJWT returns an HS256 JSON Web Token of claims signed with secret.
func signJWT(secret string, claims map[string]any) string {
	enc := base64.RawURLEncoding
	payload, _ := json.Marshal(claims)
	signed := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(h.Sum(nil))
}

// centrifugoConfig returns the configuration file csbench gives a
// Centrifugo v6 it starts: loopback only, connection JWTs signed with
// secret, any connected client may subscribe to channels without a
// namespace, the HTTP API protected by apiKey, Prometheus metrics and the
// health check on, usage statistics off, warnings only in the log.
// Everything else (ping every 25 s, 1 MiB client queue, 1 s write timeout)
// keeps Centrifugo's defaults.
func centrifugoConfig(port int, secret, apiKey string) []byte {
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "warn"},
		"client":      map[string]any{"token": map[string]any{"hmac_secret_key": secret}},
		"channel":     map[string]any{"without_namespace": map[string]any{"allow_subscribe_for_client": true}},
		"http_api":    map[string]any{"key": apiKey},
		"prometheus":  map[string]any{"enabled": true},
		"health":      map[string]any{"enabled": true},
		"usage_stats": map[string]any{"disabled": true},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return b
}

// errNoCentrifugo says that no Centrifugo binary was found.
var errNoCentrifugo = errors.New("centrifugo not found: install it with 'go install github.com/centrifugal/centrifugo/v6@v6.9.1' or pass --centrifugo-bin")
