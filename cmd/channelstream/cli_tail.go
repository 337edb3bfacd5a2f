package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// Timing of tail's transports.
const (
	// tailIdle ends a transport that brought nothing, not even a heartbeat,
	// for this long (the node's heartbeat_interval is shorter than its
	// conn_timeout, 15 s by default).
	tailIdle = 60 * time.Second
	// tailRetryMin and tailRetryMax bound the wait before attaching again;
	// it doubles after each attempt that brought nothing.
	tailRetryMin = 100 * time.Millisecond
	tailRetryMax = 5 * time.Second
	// tailMaxBatch bounds one received batch.
	tailMaxBatch = 64 << 20
)

// errConnGone is a transport's end when the node no longer knows the
// connection (disconnected or collected): tail connects again.
var errConnGone = errors.New("the node no longer knows the connection")

// errReplaced ends tail: another client attached to its connection.
var errReplaced = errors.New("another client attached to the connection (WebSocket close 4000)")

// tail is "channelstream tail": one connection whose frames it prints as
// lines of JSON, resuming after every drop from the last seq printed.
type tail struct {
	api       *client.Client
	http      *http.Client
	dialer    *gws.Dialer
	user      string
	channels  []string
	transport string
	out, log  io.Writer

	connID  string
	lastSeq uint64
	got     bool // the current attachment brought a frame or heartbeat
}

func newTail(api *client.Client, hc *http.Client, inv invocation, stdout, stderr io.Writer) (*tail, error) {
	if len(inv.channels) == 0 {
		return nil, errors.New("--channel is required")
	}
	if !slices.Contains([]string{"ws", "sse", "longpoll"}, inv.transport) {
		return nil, fmt.Errorf("--transport %q: want ws, sse or longpoll", inv.transport)
	}
	if inv.user == "" {
		return nil, errors.New("--user must not be empty")
	}
	if len(inv.args) > 0 {
		return nil, fmt.Errorf("unexpected argument %q", inv.args[0])
	}
	d := *gws.DefaultDialer
	if tr, ok := hc.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		// The same trust, but offering only HTTP/1.1: the HTTP transport
		// adds h2 to its config, and an upgrade needs HTTP/1.1.
		d.TLSClientConfig = tr.TLSClientConfig.Clone()
		d.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return &tail{api: api, http: hc, dialer: &d, user: inv.user, channels: inv.channels,
		transport: inv.transport, out: stdout, log: stderr}, nil
}

// run connects, then attaches and prints until ctx ends (nil) or the node
// refuses the connection (the refusal).
func (t *tail) run(ctx context.Context) error {
	if err := t.connect(ctx); err != nil {
		return err
	}
	wait := tailRetryMin
	for {
		t.got = false
		err := t.attach(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, errReplaced):
			return err
		case errors.Is(err, errConnGone):
			fmt.Fprintf(t.log, "tail: %v; connecting again (frames sent meanwhile are lost)\n", err)
			if err := t.connect(ctx); err != nil {
				var refused *client.Error
				if errors.As(err, &refused) && refused.Status < 500 {
					return err
				}
				fmt.Fprintf(t.log, "tail: %v\n", err)
			}
		default:
			fmt.Fprintf(t.log, "tail: %s ended: %v; attaching again from seq %d\n", t.transport, err, t.lastSeq)
		}
		if t.got {
			wait = tailRetryMin
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, tailRetryMax)
	}
}

// connect makes (or, after the node forgot it, remakes) the connection.
func (t *tail) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	res, err := t.api.Connect(ctx, client.ConnectRequest{Username: t.user, ConnID: t.connID, Channels: t.channels,
		Info: client.InfoOptions{NoHistory: true, NoUsers: true}})
	if err != nil {
		return err
	}
	t.connID, t.lastSeq = res.ConnID, 0
	fmt.Fprintf(t.log, "tail: connected as %q, conn_id %s, channels %v, over %s\n", t.user, t.connID, res.Channels, t.transport)
	return nil
}

func (t *tail) attach(ctx context.Context) error {
	switch t.transport {
	case "ws":
		return t.websocket(ctx)
	case "sse":
		return t.sse(ctx)
	}
	return t.longpoll(ctx)
}

// print writes each object of the JSON list batch as one line, skipping
// what it printed before (seq at or under lastSeq). An empty list is a
// heartbeat.
func (t *tail) print(batch []byte) error {
	var frames []json.RawMessage
	if err := json.Unmarshal(batch, &frames); err != nil {
		return fmt.Errorf("a frame that is not a JSON list: %.200q", batch)
	}
	t.got = true
	var b bytes.Buffer
	for _, f := range frames {
		var head struct {
			Seq uint64 `json:"seq"`
		}
		_ = json.Unmarshal(f, &head)
		if head.Seq != 0 && head.Seq <= t.lastSeq {
			continue
		}
		t.lastSeq = max(t.lastSeq, head.Seq)
		b.Write(f)
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		return nil
	}
	_, err := t.out.Write(b.Bytes())
	return err
}

func (t *tail) websocket(ctx context.Context) error {
	conn, resp, err := t.dialer.DialContext(ctx, t.api.AttachURL("ws", t.connID, t.lastSeq), nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("GET /ws: %s", resp.Status)
		}
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetReadLimit(tailMaxBatch)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(tailIdle))
		_, data, err := conn.ReadMessage()
		var closed *gws.CloseError
		switch {
		case errors.As(err, &closed) && closed.Code == gws.CloseNormalClosure:
			return fmt.Errorf("%w (WebSocket closed: %d %s)", errConnGone, closed.Code, closed.Text)
		case errors.As(err, &closed) && closed.Code == 4000:
			return errReplaced
		case err != nil:
			return err
		}
		if err := t.print(data); err != nil {
			return err
		}
	}
}

// tailGet makes a GET with an idle deadline and returns the response of
// a 200, errConnGone for gone, else an error with the status.
func (t *tail) get(ctx context.Context, url string, gone int, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := t.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	if resp.StatusCode == gone {
		return nil, fmt.Errorf("%w (%s: %s)", errConnGone, resp.Status, bytes.TrimSpace(b))
	}
	return nil, fmt.Errorf("GET %s: %s: %s", req.URL.Path, resp.Status, bytes.TrimSpace(b))
}

// sse reads an event stream: each event's data is a batch; comments are
// heartbeats. An unknown connection is 404.
func (t *tail) sse(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(tailIdle, cancel)
	defer idle.Stop()
	resp, err := t.get(ctx, t.api.AttachURL("sse", t.connID, t.lastSeq), http.StatusNotFound, "text/event-stream")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 0, 64<<10), tailMaxBatch)
	var data []byte
	for lines.Scan() {
		idle.Reset(tailIdle)
		line := lines.Bytes()
		switch {
		case len(line) == 0 && data != nil:
			if err := t.print(data); err != nil {
				return err
			}
			data = nil
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		case bytes.HasPrefix(line, []byte(":")):
			t.got = true // a heartbeat
		}
	}
	if err := lines.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

// longpoll polls /listen with last_seq, so an answer lost on the way is
// sent again. An unknown connection is 401.
func (t *tail) longpoll(ctx context.Context) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, tailIdle)
		resp, err := t.get(pctx, t.api.AttachURL("longpoll", t.connID, t.lastSeq), http.StatusUnauthorized, "application/json")
		if err != nil {
			cancel()
			return err
		}
		batch, err := io.ReadAll(io.LimitReader(resp.Body, tailMaxBatch))
		resp.Body.Close()
		cancel()
		if err != nil {
			return err
		}
		if err := t.print(batch); err != nil {
			return err
		}
	}
}
