package websocket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
)

// testEnv is a real hub behind a real HTTP server serving the handler.
type testEnv struct {
	t   testing.TB
	hub *core.Hub
	h   *Handler
	srv *httptest.Server
	ws  string // ws://host/ws

	mu      sync.Mutex
	clients []*gws.Conn
}

type envOption func(*httptest.Server)

// newEnv starts a hub (with its collector) and a server for the handler.
func newEnv(t testing.TB, hcfg core.Config, cfg Config, opts ...envOption) *testEnv {
	t.Helper()
	hub := core.New(hcfg)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = hub.Run(ctx) }()
	cfg.Hub = hub
	h := New(cfg)
	mux := http.NewServeMux()
	mux.Handle("GET /ws", h)
	srv := httptest.NewUnstartedServer(mux)
	for _, o := range opts {
		o(srv)
	}
	srv.Start()
	e := &testEnv{t: t, hub: hub, h: h, srv: srv, ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
	t.Cleanup(func() {
		e.mu.Lock()
		for _, c := range e.clients {
			_ = c.Close()
		}
		e.mu.Unlock()
		// Every socket must end once its client is gone: no leaked goroutines.
		eventually(t, 5*time.Second, "sockets still open after the clients closed", func() bool { return h.Open() == 0 })
		srv.Close()
		cancel()
	})
	return e
}

// connect creates a connection of user in channels and returns its id.
func (e *testEnv) connect(user string, channels ...string) string {
	e.t.Helper()
	res, err := e.hub.Connect(context.Background(), core.ConnectParams{Username: user, Channels: channels, Info: core.DefaultInfoOptions()})
	if err != nil {
		e.t.Fatalf("connect %s: %v", user, err)
	}
	return res.ConnID
}

// publish sends one message to channel and returns its uuid.
func (e *testEnv) publish(channel, text string) string {
	id := core.NewUUID()
	msg, _ := json.Marshal(text)
	e.hub.Publish(context.Background(), []core.Message{{
		Kind: core.KindSend, UUID: id, Channel: channel,
		Fields: map[string]json.RawMessage{"user": json.RawMessage(`"publisher"`), "message": msg},
	}})
	return id
}

// dial opens a socket with query (e.g. "conn_id=..."); failures are returned.
func (e *testEnv) dialErr(query string, d *gws.Dialer) (*gws.Conn, *http.Response, error) {
	if d == nil {
		d = gws.DefaultDialer
	}
	c, resp, err := d.Dial(e.ws+"?"+query, nil)
	if err == nil {
		e.mu.Lock()
		e.clients = append(e.clients, c)
		e.mu.Unlock()
	}
	return c, resp, err
}

// dial opens a socket for connID (extra query appended) or fails the test.
func (e *testEnv) dial(connID string, extra ...string) *gws.Conn {
	e.t.Helper()
	q := "conn_id=" + connID
	for _, x := range extra {
		q += "&" + x
	}
	c, _, err := e.dialErr(q, nil)
	if err != nil {
		e.t.Fatalf("dial %s: %v", q, err)
	}
	return c
}

// frame is one decoded object of a server frame.
type frame struct {
	Seq     uint64 `json:"seq"`
	Type    string `json:"type"`
	Catchup *bool  `json:"catchup"`
	Message string `json:"message"`
	UUID    string `json:"uuid"`
	Channel string `json:"channel"`
	FromSeq uint64 `json:"from_seq"`
	ToSeq   uint64 `json:"to_seq"`
	Cursor  string `json:"cursor"`
}

// readList reads one server frame, which must be a text frame holding a
// JSON list, within timeout.
func readList(c *gws.Conn, timeout time.Duration) ([]frame, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	typ, data, err := c.ReadMessage()
	if err != nil {
		return nil, err
	}
	if typ != gws.TextMessage {
		return nil, fmt.Errorf("frame type %d, want text", typ)
	}
	if !bytes.HasPrefix(data, []byte("[")) {
		return nil, fmt.Errorf("frame %q is not a JSON list", data)
	}
	var list []frame
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("frame %q: %w", data, err)
	}
	return list, nil
}

// readObjects reads frames (skipping heartbeats) until n objects arrived.
func readObjects(t testing.TB, c *gws.Conn, n int, timeout time.Duration) []frame {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got []frame
	for len(got) < n {
		list, err := readList(c, time.Until(deadline))
		if err != nil {
			t.Fatalf("after %d of %d objects: %v", len(got), n, err)
		}
		got = append(got, list...)
	}
	if len(got) != n {
		t.Fatalf("got %d objects, want %d: %+v", len(got), n, got)
	}
	return got
}

// expectClose reads until the socket closes and checks the close code.
func expectClose(t testing.TB, c *gws.Conn, code int, timeout time.Duration) *gws.CloseError {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := readList(c, time.Until(deadline))
		if err == nil {
			continue
		}
		var ce *gws.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("socket ended with %v, want close code %d", err, code)
		}
		if ce.Code != code {
			t.Fatalf("close code %d %q, want %d", ce.Code, ce.Text, code)
		}
		return ce
	}
}

// eventually polls cond every 5 ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// smallReceiveBuffer makes a dialer whose sockets have a small, fixed
// receive buffer, so that a client that does not read blocks the server
// quickly.
func smallReceiveBuffer(size int) *gws.Dialer {
	d := *gws.DefaultDialer
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var nd net.Dialer
		c, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		_ = c.(*net.TCPConn).SetReadBuffer(size)
		return c, nil
	}
	return &d
}

// smallSendBuffers gives the server's sockets a small send buffer.
func smallSendBuffers(size int) envOption {
	return func(s *httptest.Server) {
		s.Config.ConnState = func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				_ = c.(*net.TCPConn).SetWriteBuffer(size)
			}
		}
	}
}

// seqs lists the seq of each object.
func seqs(list []frame) []uint64 {
	out := make([]uint64, len(list))
	for i, f := range list {
		out[i] = f.Seq
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

// zerologTo returns a logger writing JSON lines to w.
func zerologTo(w io.Writer) zerolog.Logger { return zerolog.New(w) }
