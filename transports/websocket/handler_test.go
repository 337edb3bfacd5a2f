package websocket

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/core"
)

const wait = 5 * time.Second

func TestInvalidQueryIs422BeforeUpgrade(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	valid := core.NewUUID()
	cases := []struct {
		name  string
		query string
		want  map[string][]string
	}{
		{"missing conn_id", "", map[string][]string{"conn_id": {"Missing data for required field."}}},
		{"empty conn_id", "conn_id=", map[string][]string{"conn_id": {"Not a valid UUID."}}},
		{"non-UUID conn_id", "conn_id=not-a-uuid", map[string][]string{"conn_id": {"Not a valid UUID."}}},
		{"non-integer last_seq", "conn_id=" + valid + "&last_seq=abc", map[string][]string{"last_seq": {"Not a valid integer."}}},
		{"negative last_seq", "conn_id=" + valid + "&last_seq=-1", map[string][]string{"last_seq": {"Not a valid integer."}}},
		{"empty last_seq", "conn_id=" + valid + "&last_seq=", map[string][]string{"last_seq": {"Not a valid integer."}}},
		{"both invalid", "conn_id=x&last_seq=1.5", map[string][]string{"conn_id": {"Not a valid UUID."}, "last_seq": {"Not a valid integer."}}},
		{"bad cursor", "conn_id=" + valid + "&cursor=1-2.0.3", map[string][]string{"cursor": {"Not a valid resume cursor."}}},
		{"empty cursor", "conn_id=" + valid + "&cursor=", map[string][]string{"cursor": {"Not a valid resume cursor."}}},
		{"all three invalid", "conn_id=x&last_seq=y&cursor=z", map[string][]string{"conn_id": {"Not a valid UUID."}, "last_seq": {"Not a valid integer."}, "cursor": {"Not a valid resume cursor."}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := e.dialErr(tc.query, nil)
			if err != gws.ErrBadHandshake {
				t.Fatalf("dial error %v, want a refused handshake", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got map[string][]string
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("body %v, want %v", got, tc.want)
			}
		})
	}
	if n := e.h.Open(); n != 0 {
		t.Fatalf("%d sockets open after refused handshakes", n)
	}
}

func TestNonUpgradeGETIs400JSON(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	resp, err := http.Get(e.srv.URL + "/ws?conn_id=" + core.NewUUID())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil || got["error"] == "" {
		t.Fatalf("body %q, want {\"error\": ...}", body)
	}
}

func TestBadHandshakeIs400JSON(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	req, _ := http.NewRequest("GET", e.srv.URL+"/ws?conn_id="+core.NewUUID(), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var got map[string]string
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &got) != nil || !strings.Contains(got["error"], "version") {
		t.Fatalf("status %d body %q, want 400 with a JSON error about the version", resp.StatusCode, body)
	}
}

func TestUnknownConnIsClosed1000(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	c := e.dial(core.NewUUID())
	ce := expectClose(t, c, gws.CloseNormalClosure, wait)
	if ce.Text != "unknown connection" {
		t.Fatalf("close reason %q", ce.Text)
	}
}

func TestConnIDIsCanonicalised(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	id := e.connect("alice", "c")
	e.publish("c", "hello")
	c := e.dial("{" + strings.ToUpper(strings.ReplaceAll(id, "-", "")) + "}")
	if got := readObjects(t, c, 1, wait); got[0].Message != "hello" {
		t.Fatalf("got %+v", got)
	}
}

func TestDrainingHubClosesWith1012(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	id := e.connect("alice", "c")
	e.hub.Drain()
	ce := expectClose(t, e.dial(id), 1012, wait)
	if ce.Text != "service restart" {
		t.Fatalf("close reason %q", ce.Text)
	}
}

func TestCatchupOnOpenThenLiveFrames(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	id := e.connect("alice", "c")
	e.publish("c", "before-1")
	e.publish("c", "before-2")
	c := e.dial(id)

	got := readObjects(t, c, 2, wait)
	for i, f := range got {
		if f.Type != "message" || f.Catchup == nil || !*f.Catchup || f.Seq != uint64(i+1) || f.Channel != "c" || f.UUID == "" {
			t.Fatalf("catch-up object %d = %+v, want a message with catchup true and seq %d", i, f, i+1)
		}
	}
	if got[0].Message != "before-1" || got[1].Message != "before-2" {
		t.Fatalf("catch-up out of order: %+v", got)
	}

	e.publish("c", "live")
	live := readObjects(t, c, 1, wait)[0]
	if live.Message != "live" || live.Catchup == nil || *live.Catchup || live.Seq != 3 {
		t.Fatalf("live object %+v, want catchup false and seq 3", live)
	}
}

func TestReopenedSocketGetsWhatArrivedWhileDetached(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	id := e.connect("alice", "c")
	c := e.dial(id)
	e.publish("c", "live")
	if got := readObjects(t, c, 1, wait); *got[0].Catchup {
		t.Fatalf("got %+v", got)
	}
	_ = c.Close()
	eventually(t, wait, "socket not detached", func() bool { return e.h.Open() == 0 })
	if !e.hub.HasConn(id) {
		t.Fatal("the connection did not outlive its socket")
	}
	e.publish("c", "while away")
	got := readObjects(t, e.dial(id), 1, wait)[0]
	if got.Message != "while away" || got.Catchup == nil || !*got.Catchup || got.Seq != 2 {
		t.Fatalf("got %+v, want the missed message with catchup true and seq 2", got)
	}
}

func TestHeartbeatIsEmptyListAndPing(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{HeartbeatInterval: 50 * time.Millisecond})
	id := e.connect("alice", "c")
	c := e.dial(id)
	pings := make(chan struct{}, 16)
	c.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return c.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	for i := 0; i < 3; i++ {
		list, err := readList(c, wait)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 0 {
			t.Fatalf("heartbeat %d carried %+v, want []", i, list)
		}
	}
	select {
	case <-pings:
	default:
		t.Fatal("no ping came with the heartbeats")
	}
}

func TestHeartbeatsOnSocketOpenedLongAfterConnect(t *testing.T) {
	// Upstream defect #4: heartbeats whenever a transport is attached.
	now := time.Now()
	clock := func() time.Time { return now }
	e := newEnv(t, core.Config{Now: clock}, Config{HeartbeatInterval: 50 * time.Millisecond})
	id := e.connect("alice", "c")
	now = now.Add(10 * time.Second) // before the dial: no race with the hub's reads
	c := e.dial(id)
	if list, err := readList(c, wait); err != nil || len(list) != 0 {
		t.Fatalf("got %+v, %v; want the [] heartbeat", list, err)
	}
}

func TestClientFramesKeepConnectionAlive(t *testing.T) {
	const timeout = 600 * time.Millisecond
	// Server heartbeats are rarer than the timeout, so only client frames
	// keep the attached connection alive.
	e := newEnv(t, core.Config{ConnTimeout: timeout, GCInterval: 10 * time.Millisecond}, Config{HeartbeatInterval: time.Hour})
	alive := e.connect("alice", "c")
	silent := e.connect("bob", "c")
	c := e.dial(alive)
	gone := e.dial(silent)
	_ = gone.Close() // detached and silent from now on

	start := time.Now()
	for i := 0; time.Since(start) < 3*timeout; i++ {
		typ := gws.TextMessage
		if i%2 == 1 {
			typ = gws.BinaryMessage
		}
		if err := c.WriteMessage(typ, []byte(`{"type":"heartbeat"}`)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(timeout / 6)
	}
	if !e.hub.HasConn(alive) {
		t.Fatal("a connection whose client sends frames was collected")
	}
	eventually(t, wait, "the silent detached connection was not collected", func() bool { return !e.hub.HasConn(silent) })

	e.publish("c", "still here")
	if got := readObjects(t, c, 1, wait); got[0].Message != "still here" {
		t.Fatalf("got %+v", got)
	}
}

func TestCollectedConnectionIsClosed1000(t *testing.T) {
	e := newEnv(t, core.Config{ConnTimeout: 100 * time.Millisecond, GCInterval: 10 * time.Millisecond}, Config{HeartbeatInterval: time.Hour})
	id := e.connect("alice", "c")
	c := e.dial(id)
	expectClose(t, c, gws.CloseNormalClosure, wait)
	if e.hub.HasConn(id) {
		t.Fatal("connection still known after its socket was closed by the collector")
	}
}

func TestDisconnectClosesSocket1000(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	id := e.connect("alice", "c")
	c := e.dial(id)
	e.publish("c", "hi")
	readObjects(t, c, 1, wait)
	if ok, _ := e.hub.Disconnect(context.Background(), id); !ok {
		t.Fatal("hub did not know the connection")
	}
	ce := expectClose(t, c, gws.CloseNormalClosure, wait)
	if ce.Text != core.DisconnectGone.Reason {
		t.Fatalf("close reason %q", ce.Text)
	}
}

func TestSecondSocketReplacesFirst(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	id := e.connect("alice", "c")
	first := e.dial(id)
	e.publish("c", "one")
	if got := readObjects(t, first, 1, wait); got[0].Seq != 1 {
		t.Fatalf("got %+v", got)
	}

	second := e.dial(id)
	ce := expectClose(t, first, core.DisconnectReplaced.Code, wait)
	if ce.Text != core.DisconnectReplaced.Reason {
		t.Fatalf("close reason %q", ce.Text)
	}
	_ = first.Close()
	// The first socket's end must not take the connection with it.
	eventually(t, wait, "the replaced socket did not end", func() bool { return e.h.Open() == 1 })
	if !e.hub.HasConn(id) {
		t.Fatal("the connection did not survive the replacement")
	}
	e.publish("c", "two")
	got := readObjects(t, second, 1, wait)
	if got[0].Message != "two" || got[0].Seq != 2 {
		t.Fatalf("second socket got %+v, want message two with seq 2", got)
	}
}

func TestResumeAfterDroppedSocketLosesAndRepeatsNothing(t *testing.T) {
	const total = 300
	e := newEnv(t, core.Config{}, Config{})
	id := e.connect("alice", "c")
	go func() {
		for i := 1; i <= total; i++ {
			e.publish("c", itoa(i))
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()

	var got []frame
	var last uint64
	deadline := time.Now().Add(10 * time.Second)
	for drops := 0; len(got) < total; drops++ {
		q := []string{}
		if drops > 0 {
			q = append(q, "last_seq="+itoa(int(last)))
		}
		c := e.dial(id, q...)
		// Take a few frames, then drop the TCP connection without a close
		// frame, as a lost network would.
		for read := 0; read < 3 && len(got) < total; read++ {
			list, err := readList(c, time.Until(deadline))
			if err != nil {
				t.Fatalf("after %d objects: %v", len(got), err)
			}
			for _, f := range list {
				if f.Type == "gap" {
					t.Fatalf("unexpected gap %+v", f)
				}
				got = append(got, f)
				last = f.Seq
			}
		}
		_ = c.UnderlyingConn().Close()
	}
	for i, f := range got {
		if f.Seq != uint64(i+1) || f.Message != itoa(i+1) {
			t.Fatalf("object %d is seq %d %q: loss or duplicate", i, f.Seq, f.Message)
		}
	}
}

// TestCursorResumesAfterItsSeq: cursor= resumes as last_seq= at its seq (on
// a hub without a data plane its positions do not matter), alone or beside
// an agreeing last_seq; with a disagreeing one the handshake is refused
// with 400 and changes nothing.
func TestCursorResumesAfterItsSeq(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{})
	id := e.connect("alice", "c")
	for i := 1; i <= 3; i++ {
		e.publish("c", itoa(i))
	}
	for _, q := range []string{"cursor=1-0.1.7-4.2.1", "cursor=1", "cursor=1-0.1.7&last_seq=1"} {
		c := e.dial(id, q)
		if got := seqs(readObjects(t, c, 2, wait)); !reflect.DeepEqual(got, []uint64{2, 3}) {
			t.Fatalf("%s: seqs %v, want 2 and 3", q, got)
		}
		_ = c.Close()
		eventually(t, wait, "socket not detached", func() bool { return e.h.Open() == 0 })
	}

	_, resp, err := e.dialErr("conn_id="+id+"&last_seq=2&cursor=3-0.1.7", nil)
	if err != gws.ErrBadHandshake {
		t.Fatalf("dial error %v, want a refused handshake", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || string(body) != `{"error":"cursor and last_seq disagree on the seq"}` ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("answered %d %q %s, want 400 with a JSON error", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	c := e.dial(id, "cursor=1-0.1.7")
	if got := seqs(readObjects(t, c, 2, wait)); !reflect.DeepEqual(got, []uint64{2, 3}) {
		t.Fatalf("after the refusal: seqs %v, want 2 and 3", got)
	}
}

func TestResumeOlderThanRetainedGetsGap(t *testing.T) {
	e := newEnv(t, core.Config{QueueFrames: 5}, Config{})
	id := e.connect("alice", "c")
	c := e.dial(id)
	e.publish("c", "1")
	if got := readObjects(t, c, 1, wait); got[0].Seq != 1 {
		t.Fatalf("got %+v", got)
	}
	_ = c.Close()
	eventually(t, wait, "socket not detached", func() bool { return e.h.Open() == 0 })
	for i := 2; i <= 11; i++ {
		e.publish("c", itoa(i))
	}

	c = e.dial(id, "last_seq=1")
	got := readObjects(t, c, 6, wait)
	gap := got[0]
	if gap.Type != "gap" || gap.FromSeq != 2 || gap.ToSeq != 6 {
		t.Fatalf("first object %+v, want gap from 2 to 6", gap)
	}
	if s := seqs(got[1:]); !reflect.DeepEqual(s, []uint64{7, 8, 9, 10, 11}) {
		t.Fatalf("seqs after the gap %v", s)
	}
	for _, f := range got[1:] {
		if f.Message != itoa(int(f.Seq)) {
			t.Fatalf("object %+v", f)
		}
	}
}

func TestSlowConsumerIsClosed1008WhileOthersGetEverything(t *testing.T) {
	logs := &syncBuffer{}
	log := zerologTo(logs)
	e := newEnv(t, core.Config{QueueFrames: 16}, Config{Logger: log}, smallSendBuffers(16<<10))
	fastID := e.connect("fast", "c")
	slowID := e.connect("slow", "c")
	fast := e.dial(fastID)
	slowC, _, err := e.dialErr("conn_id="+slowID, smallReceiveBuffer(16<<10))
	if err != nil {
		t.Fatal(err)
	}

	payload := strings.Repeat("x", 32<<10)
	received := 0
	for i := 1; e.hub.Stats().SlowDisconnects.Load() == 0; i++ {
		if i > 2000 {
			t.Fatal("the client that does not read was never disconnected as slow")
		}
		e.publish("c", payload)
		// Pace the publisher on the fast client, so only the slow one lags.
		for _, f := range readObjects(t, fast, 1, wait) {
			received++
			if f.Seq != uint64(received) || f.Type != "message" {
				t.Fatalf("fast client got %+v as object %d", f, received)
			}
		}
	}
	for i := 0; i < 5; i++ {
		e.publish("c", "after")
	}
	for _, f := range readObjects(t, fast, 5, wait) {
		received++
		if f.Seq != uint64(received) || f.Message != "after" {
			t.Fatalf("fast client got %+v as object %d", f, received)
		}
	}

	// The slow client reads what the kernel buffered, then the close frame.
	slowC.SetReadLimit(-1)
	expectClose(t, slowC, core.DisconnectSlow.Code, wait)
	var logged bool
	for _, line := range strings.Split(logs.String(), "\n") {
		logged = logged || strings.Contains(line, `"level":"warn"`) && strings.Contains(line, `"code":1008`) && strings.Contains(line, slowID)
	}
	if !logged {
		t.Fatalf("slow consumer not logged at warn:\n%s", logs)
	}
}

func TestSilentPeerIsDetachedAfterPongWait(t *testing.T) {
	const pongWait = 300 * time.Millisecond
	e := newEnv(t, core.Config{}, Config{HeartbeatInterval: 50 * time.Millisecond, PongWait: pongWait})
	answering := e.dial(e.connect("alice", "c"))
	deaf := e.dial(e.connect("bob", "c")) // never reads, so never answers a ping

	// The client that reads answers pings and stays attached well past
	// PongWait without sending a data frame; the deaf one is cut.
	start := time.Now()
	for time.Since(start) < 3*pongWait {
		if _, err := readList(answering, wait); err != nil {
			t.Fatalf("the client answering pings was dropped after %v: %v", time.Since(start), err)
		}
	}
	_ = deaf.SetReadDeadline(time.Now().Add(wait))
	for {
		_, _, err := deaf.ReadMessage()
		if err == nil {
			continue // heartbeats buffered before the cut
		}
		// Cut: EOF (1006), or the pong to a buffered ping hits a closed socket.
		if ce, ok := err.(*gws.CloseError); ok && ce.Code != gws.CloseAbnormalClosure {
			t.Fatalf("the deaf client ended with %v, want the connection cut", err)
		}
		break
	}
	if _, err := readList(answering, wait); err != nil {
		t.Fatalf("the client answering pings was dropped: %v", err)
	}
}

func TestOversizedClientFrameIsClosed1009(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{MaxMessageSize: 1024})
	c := e.dial(e.connect("alice", "c"))
	if err := c.WriteMessage(gws.TextMessage, make([]byte, 2048)); err != nil {
		t.Fatal(err)
	}
	expectClose(t, c, gws.CloseMessageTooBig, wait)
}

func TestShutdownClosesEverySocketWith1012(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{ShutdownWindow: 100 * time.Millisecond})
	var clients []*gws.Conn
	for _, user := range []string{"a", "b", "c"} {
		clients = append(clients, e.dial(e.connect(user, "ch")))
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		done <- e.h.Shutdown(ctx)
	}()
	for _, c := range clients {
		ce := expectClose(t, c, 1012, wait)
		if ce.Text != "service restart" {
			t.Fatalf("close reason %q", ce.Text)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Shutdown did not return once every socket was gone")
	}
	expectClose(t, e.dial(e.connect("late", "ch")), 1012, wait)
}

func TestShutdownGivesUpAtDeadline(t *testing.T) {
	e := newEnv(t, core.Config{}, Config{ShutdownWindow: time.Hour})
	deaf := e.dial(e.connect("alice", "c"))
	_ = deaf // never reads, so never answers the close frame
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := e.h.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v, want the context's deadline error", err)
	}
	// The socket waiting for the close answer is cut at once, well before
	// closeGrace.
	eventually(t, closeGrace/2, "the socket outlived the shutdown deadline", func() bool { return e.h.Open() == 0 })
	if d := time.Since(start); d > closeGrace {
		t.Fatalf("took %v", d)
	}
}

func TestOversizedFrameCloseComesAfterAWholeBatch(t *testing.T) {
	e := newEnv(t, core.Config{MaxMessageBytes: 1 << 20}, Config{MaxMessageSize: 1024}, smallSendBuffers(16<<10))
	id := e.connect("alice", "c")
	c, _, err := e.dialErr("conn_id="+id, smallReceiveBuffer(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("x", 512<<10) // far more than both buffers: the batch waits half sent
	e.publish("c", payload)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	kind, r, err := c.NextReader() // the batch's header is here: it is under way
	if err != nil || kind != gws.TextMessage {
		t.Fatalf("waiting for the batch: %v (frame kind %d)", err, kind)
	}
	// gorilla's read side answers the oversized frame with a close frame
	// while the batch is still being sent.
	if err := c.WriteMessage(gws.TextMessage, make([]byte, 2048)); err != nil {
		t.Fatal(err)
	}
	var list []frame
	if err := json.NewDecoder(r).Decode(&list); err != nil {
		t.Fatalf("reading the batch: %v", err)
	}
	if len(list) != 1 || list[0].Message != payload {
		t.Fatalf("got %d objects, want the one message whole", len(list))
	}
	expectClose(t, c, gws.CloseMessageTooBig, wait)
}
