package websocket

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/core"
)

// presenceEnv connects alice and bob to channel "c" (with presence events
// when presence is set), and attaches a socket for each.
func presenceEnv(t *testing.T, presence bool) (e *testEnv, aliceID string, alice, bob *gws.Conn) {
	t.Helper()
	e = newEnv(t, core.Config{ConnTimeout: time.Hour}, Config{HeartbeatInterval: time.Hour})
	cfgs := map[string]core.ChannelConfig{"c": {NotifyPresence: presence, StoreFrames: true}}
	ids := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		res, err := e.hub.Connect(context.Background(), core.ConnectParams{Username: u, Channels: []string{"c"}, ChannelConfigs: cfgs, Info: core.DefaultInfoOptions()})
		if err != nil {
			t.Fatal(err)
		}
		ids[u] = res.ConnID
	}
	return e, ids["alice"], e.dial(ids["alice"]), e.dial(ids["bob"])
}

// awaitParted reads c until a presence "parted" of user arrives.
func awaitParted(t *testing.T, c *gws.Conn, user string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_ = c.SetReadDeadline(deadline)
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("no parted of %s within %v: %v", user, timeout, err)
		}
		var list []struct {
			Type    string `json:"type"`
			User    string `json:"user"`
			Message struct {
				Action string `json:"action"`
			} `json:"message"`
		}
		if err := json.Unmarshal(data, &list); err != nil {
			t.Fatalf("frame %s: %v", data, err)
		}
		for _, o := range list {
			if o.Type == "presence" && o.User == user && o.Message.Action == "parted" {
				return
			}
		}
	}
}

func TestClientCloseFrameRemovesConnectionAtOnce(t *testing.T) {
	for name, payload := range map[string][]byte{
		"1000 normal closure": gws.FormatCloseMessage(gws.CloseNormalClosure, ""),
		"1001 going away":     gws.FormatCloseMessage(gws.CloseGoingAway, ""),
		"no code":             {},
	} {
		t.Run(name, func(t *testing.T) {
			e, aliceID, alice, bob := presenceEnv(t, true)
			if err := alice.WriteControl(gws.CloseMessage, payload, time.Now().Add(wait)); err != nil {
				t.Fatal(err)
			}
			awaitParted(t, bob, "alice", time.Second)
			if e.hub.HasConn(aliceID) {
				t.Fatal("connection still known after its client closed with a leaving code")
			}
		})
	}
}

func TestClientCloseWithOwnCodeKeepsConnectionForResume(t *testing.T) {
	e, aliceID, alice, bob := presenceEnv(t, false)
	msg := gws.FormatCloseMessage(4001, "coming back")
	if err := alice.WriteControl(gws.CloseMessage, msg, time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	expectClose(t, alice, 4001, wait) // the server's echo
	eventually(t, wait, "alice's socket did not end", func() bool { return e.h.Open() == 1 })
	if !e.hub.HasConn(aliceID) {
		t.Fatal("a close with 4001 removed the connection")
	}
	e.publish("c", "while away")
	again := e.dial(aliceID, "last_seq=0")
	if got := readObjects(t, again, 1, wait); got[0].Message != "while away" {
		t.Fatalf("resumed socket got %+v", got)
	}
	if got := readObjects(t, bob, 1, wait); got[0].Message != "while away" {
		t.Fatalf("bob got %+v", got)
	}
}

func TestServerCloseEchoDoesNotRemoveReplacedConnection(t *testing.T) {
	e, aliceID, first, _ := presenceEnv(t, false)
	// A client that answers the server's close frame (4000, replaced)
	// with 1000 only echoes it: the connection is not its to end.
	first.SetCloseHandler(func(int, string) error {
		return first.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""), time.Now().Add(wait))
	})
	second := e.dial(aliceID)
	expectClose(t, first, core.DisconnectReplaced.Code, wait)
	_ = first.Close()
	eventually(t, wait, "the replaced socket did not end", func() bool { return e.h.Open() == 2 })
	if !e.hub.HasConn(aliceID) {
		t.Fatal("the replaced socket's end removed the connection")
	}
	e.publish("c", "x")
	readObjects(t, second, 1, wait)
}

func TestShutdownCloseAnsweredWith1000KeepsConnection(t *testing.T) {
	e, aliceID, alice, bob := presenceEnv(t, false)
	for _, c := range []*gws.Conn{alice, bob} {
		c.SetCloseHandler(func(int, string) error {
			return c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""), time.Now().Add(wait))
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	e.h.cfg.ShutdownWindow = time.Millisecond
	done := make(chan error, 1)
	go func() { done <- e.h.Shutdown(ctx) }()
	expectClose(t, alice, core.DisconnectShutdown.Code, wait)
	expectClose(t, bob, core.DisconnectShutdown.Code, wait)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "sockets still open after the shutdown", func() bool { return e.h.Open() == 0 })
	if !e.hub.HasConn(aliceID) {
		t.Fatal("a 1000 answering the server's 1012 removed the connection")
	}
}
