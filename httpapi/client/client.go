package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Config configures a Client. The zero value talks to `make run`'s node.
type Config struct {
	// BaseURL is the node's address, scheme and host with an optional path
	// prefix, without a trailing slash. Default "http://127.0.0.1:8000".
	BaseURL string
	// Secret is the API signing secret (the server's `secret`). Default
	// "secret", the server's default.
	Secret string
	// HTTPClient sends the requests. Default a client with a 30 s timeout.
	HTTPClient *http.Client
	// MaxAnswerBytes bounds the answer body read. Default 64 MiB.
	MaxAnswerBytes int64
	// Now is the clock tokens are signed with. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = "http://127.0.0.1:8000"
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.Secret == "" {
		c.Secret = "secret"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if c.MaxAnswerBytes <= 0 {
		c.MaxAnswerBytes = 64 << 20
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Client makes signed calls to one node. It is immutable and safe for
// concurrent use.
type Client struct {
	cfg Config
}

// New returns a Client for cfg (defaults filled in).
func New(cfg Config) *Client {
	return &Client{cfg: cfg.withDefaults()}
}

// BaseURL returns the node's address the client calls.
func (c *Client) BaseURL() string { return c.cfg.BaseURL }

// Token returns a token of SignedValue signed now.
func (c *Client) Token() string { return Sign(c.cfg.Secret, SignedValue, c.cfg.Now()) }

// Error is a refusal: the node answered with a status other than 2xx. Body
// is the answer as received; every refusal of the API is JSON, e.g.
// {"username": ["Missing data for required field."]} (422) or
// {"request": "Bad Signature"} (401).
type Error struct {
	Method string
	Path   string
	Status int
	Body   json.RawMessage
}

// Error implements error: "POST /connect: 422 Unprocessable Entity: {...}".
func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), bytes.TrimSpace(e.Body))
}

// Message returns the "error" string of a {"error": "..."} body, or "" when
// the body has none (field errors, upstream's bodies).
func (e *Error) Message() string {
	var v struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(e.Body, &v)
	return v.Error
}

// Call sends a signed request with body (nil: none) to path (with its query
// string, if any) and returns the status and the answer whatever the
// status. err reports only what kept the call from being answered (the
// network, ctx, an answer over MaxAnswerBytes).
func (c *Client) Call(ctx context.Context, method, path string, body []byte) (status int, answer []byte, err error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set(Header, c.Token())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxAnswerBytes+1))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if int64(len(answer)) > c.cfg.MaxAnswerBytes {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: the answer is over %d bytes", method, path, c.cfg.MaxAnswerBytes)
	}
	return resp.StatusCode, answer, nil
}

// Do sends in as the JSON body (nil: no body; a json.RawMessage or []byte
// is sent as is, anything else marshalled) and decodes a 2xx answer into
// out (nil: discarded). Any other status is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	switch v := in.(type) {
	case nil:
	case json.RawMessage:
		body = v
	case []byte:
		body = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s %s: encode the request: %w", method, path, err)
		}
		body = b
	}
	status, answer, err := c.Call(ctx, method, path, body)
	if err != nil {
		return err
	}
	if status < 200 || status > 299 {
		return &Error{Method: method, Path: path, Status: status, Body: answer}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer %.200q: %w", method, path, answer, err)
	}
	return nil
}
