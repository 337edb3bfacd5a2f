package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// behaviourScenario is one behaviour every transport must show the same way
// through the whole node: the REST API, the hub and the transport, with a
// real client.
type behaviourScenario struct {
	name string
	// config adjusts the node on top of behaviourConfig (nil: none).
	config func(*Config)
	run    func(e *behaviourEnv)
}

var behaviourScenarios = []behaviourScenario{
	{name: "channel_message", run: channelMessage},
	{name: "pm_inside_channel", run: pmInsideChannel},
	{name: "global_pm", run: globalPM},
	{name: "exclude_users", run: excludeUsers},
	{name: "presence_with_user_lists", run: presenceWithUserLists},
	{name: "user_state_change", run: userStateChange},
	{name: "message_edit", run: messageEdit},
	{name: "message_delete", run: messageDelete},
	{name: "catchup_before_attach", run: catchupBeforeAttach},
	{name: "heartbeat", config: func(c *Config) { c.HeartbeatInterval = 100 * time.Millisecond }, run: scenarioHeartbeat},
	{name: "gc_after_inactivity", config: func(c *Config) { c.ConnTimeout = time.Second }, run: gcAfterInactivity},
	{name: "goodbye_leaves_at_once", config: func(c *Config) { c.ConnTimeout = time.Hour }, run: goodbyeLeavesAtOnce},
	{name: "disconnect_closes_transport", run: disconnectClosesTransport},
	{name: "resume_without_loss", run: resumeWithoutLoss},
	{name: "gap_when_resume_too_old", config: func(c *Config) { c.ConnQueueFrames = 5 }, run: gapWhenResumeTooOld},
}

// TestBehaviour runs every scenario against WebSocket, SSE and long-poll,
// each on a node of its own: websocket/resume_without_loss and so on.
func TestBehaviour(t *testing.T) {
	for _, tr := range clientTransports {
		t.Run(tr.name, func(t *testing.T) {
			for _, sc := range behaviourScenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					tg := startGateway(t, func(c *Config) {
						behaviourConfig(c)
						if sc.config != nil {
							sc.config(c)
						}
					})
					e := &behaviourEnv{t: t, tg: tg, transport: tr.name}
					e.open = func(id string) subscriber { return tr.open(t, tg, id) }
					sc.run(e)
				})
			}
		})
	}
}

func channelMessage(e *behaviourEnv) {
	_, alice := e.attach("alice", "room")
	e.ready(alice)
	e.send(map[string]any{"channel": "room", "message": msgText("hello"), "extra_key": 5})
	f := takeFrame(e.t, alice)
	wantFrame(e.t, f, e.live(map[string]any{
		"seq": 1, "type": "message", "channel": "room", "user": "system",
		"message": msgText("hello"), "extra_key": 5, "edited": nil,
	}))
	if f.Str("uuid") == "" || f.Str("timestamp") == "" {
		e.t.Errorf("uuid and timestamp missing: %v", f)
	}
	for _, k := range []string{"pm_users", "exclude_users", "no_history"} {
		if _, ok := f[k]; ok {
			e.t.Errorf("delivery key %q reached the client: %v", k, f)
		}
	}
}

func pmInsideChannel(e *behaviourEnv) {
	_, alice := e.attach("alice", "room")
	_, bob := e.attach("bob", "room")
	e.send(
		map[string]any{"channel": "room", "pm_users": []string{"bob"}, "message": msgText("psst")},
		map[string]any{"channel": "room", "message": msgText("all")},
	)
	got := takeFrames(e.t, bob, 2)
	wantFrame(e.t, got[0], map[string]any{"type": "message", "channel": "room", "message": msgText("psst"), "seq": 1})
	wantFrame(e.t, got[1], map[string]any{"message": msgText("all"), "seq": 2})
	// alice's first frame is the broadcast: the PM never reached her.
	wantFrame(e.t, takeFrame(e.t, alice), map[string]any{"message": msgText("all"), "seq": 1})
}

func globalPM(e *behaviourEnv) {
	_, alice := e.attach("alice", "room")
	_, bob := e.attach("bob", "room")
	e.ready(alice)
	e.send(
		map[string]any{"pm_users": []string{"alice"}, "message": msgText("for alice")},
		map[string]any{"pm_users": []string{"bob"}, "message": msgText("for bob")},
	)
	wantFrame(e.t, takeFrame(e.t, alice), e.live(map[string]any{
		"type": "message", "channel": nil, "message": msgText("for alice"), "seq": 1,
	}))
	wantFrame(e.t, takeFrame(e.t, bob), map[string]any{"channel": nil, "message": msgText("for bob"), "seq": 1})
}

func excludeUsers(e *behaviourEnv) {
	_, alice := e.attach("alice", "room")
	_, bob := e.attach("bob", "room")
	e.send(
		map[string]any{"channel": "room", "exclude_users": []string{"bob"}, "message": msgText("not bob")},
		map[string]any{"channel": "room", "message": msgText("everyone")},
	)
	got := takeFrames(e.t, alice, 2)
	wantFrame(e.t, got[0], map[string]any{"message": msgText("not bob"), "seq": 1})
	wantFrame(e.t, got[1], map[string]any{"message": msgText("everyone"), "seq": 2})
	wantFrame(e.t, takeFrame(e.t, bob), map[string]any{"message": msgText("everyone"), "seq": 1})
}

func presenceWithUserLists(e *behaviourEnv) {
	configs := map[string]any{"pres": map[string]any{"notify_presence": true, "broadcast_presence_with_user_lists": true}}
	aliceID := e.connect(map[string]any{"username": "alice", "channels": []string{"pres"}, "channel_configs": configs,
		"user_state": map[string]any{"color": "red"}, "state_public_keys": []string{"color"}})
	alice := e.open(aliceID)
	e.ready(alice)
	bobID := e.connect(map[string]any{"username": "bob", "channels": []string{"pres"},
		"user_state": map[string]any{"color": "blue", "secret": 1}, "state_public_keys": []string{"color"}})
	bob := e.open(bobID)

	// alice never hears of her own join: her first frame is bob's.
	wantFrame(e.t, takeFrame(e.t, alice), e.live(map[string]any{
		"seq": 1, "type": "presence", "channel": "pres", "user": "bob",
		"message": map[string]any{"action": "joined"}, "state": map[string]any{"color": "blue"},
		"users": []any{
			map[string]any{"user": "alice", "state": map[string]any{"color": "red"}},
			map[string]any{"user": "bob", "state": map[string]any{"color": "blue"}},
		},
	}))
	if b := e.mustCall("GET", "/disconnect?conn_id="+bobID, nil); string(b) != "true" {
		e.t.Fatalf("/disconnect answered %s", b)
	}
	wantFrame(e.t, takeFrame(e.t, alice), map[string]any{
		"seq": 2, "type": "presence", "channel": "pres", "user": "bob",
		"message": map[string]any{"action": "parted"}, "state": nil,
		"users": []any{map[string]any{"user": "alice", "state": map[string]any{"color": "red"}}},
	})
	// bob got no presence of his own before his transport was closed.
	if end := expectEnd(e.t, bob); end.Err != nil {
		e.t.Errorf("bob's transport: %v", end)
	}
}

func userStateChange(e *behaviourEnv) {
	configs := map[string]any{"st": map[string]any{"notify_state": true}}
	alice := e.open(e.connect(map[string]any{"username": "alice", "channels": []string{"st"}, "channel_configs": configs}))
	_, bob := e.attach("bob", "st")
	body := e.mustCall("POST", "/user_state", map[string]any{
		"user": "bob", "user_state": map[string]any{"mood": "happy", "secret": "x"}, "state_public_keys": []string{"mood"},
	})
	// Everyone in the channel hears it, bob's own connections included;
	// only public keys show.
	for who, sub := range map[string]subscriber{"alice": alice, "bob": bob} {
		f := takeFrame(e.t, sub)
		wantFrame(e.t, f, map[string]any{
			"seq": 1, "type": "user_state_change", "channel": "st", "user": "bob",
			"message": map[string]any{
				"state":   map[string]any{"mood": "happy"},
				"changed": []any{map[string]any{"key": "mood", "value": "happy"}},
			},
		})
		if f.Str("uuid") == "" || f.Str("timestamp") == "" {
			e.t.Errorf("%s: uuid and timestamp missing: %v (answer %s)", who, f, body)
		}
	}
}

func messageEdit(e *behaviourEnv) {
	_, alice := e.attach("alice", "room")
	id := core.NewUUID()
	e.send(map[string]any{"channel": "room", "uuid": id, "message": msgText("first")})
	wantFrame(e.t, takeFrame(e.t, alice), map[string]any{"uuid": id, "message": msgText("first")})
	e.mustCall("PATCH", "/message", []map[string]any{{"uuid": id, "channel": "room", "message": msgText("edited")}})
	f := takeFrame(e.t, alice)
	wantFrame(e.t, f, map[string]any{"seq": 2, "type": "message:edit", "uuid": id, "channel": "room", "message": msgText("edited")})
	if f.Str("edited") == "" {
		e.t.Errorf("edited timestamp missing: %v", f)
	}
	// Live, an edit has no catchup key (upstream); replayed, catchup: true.
	// A long-poll frame published between two polls is a replay.
	if c, ok := f["catchup"]; ok && (e.transport != "longpoll" || c != true) {
		e.t.Errorf("a live edit carries catchup: %v", f)
	}
}

func messageDelete(e *behaviourEnv) {
	_, alice := e.attach("alice", "room")
	id := core.NewUUID()
	e.send(map[string]any{"channel": "room", "uuid": id, "message": msgText("doomed")})
	wantFrame(e.t, takeFrame(e.t, alice), map[string]any{"uuid": id})
	e.mustCall("DELETE", "/message", []map[string]any{{"uuid": id, "channel": "room"}})
	f := takeFrame(e.t, alice)
	wantFrame(e.t, f, map[string]any{"seq": 2, "type": "message:delete", "uuid": id, "channel": "room"})
	if _, ok := f["message"]; ok {
		e.t.Errorf("a delete carries a message: %v", f)
	}
}

// catchupBeforeAttach: what reaches a connection between /connect and the
// transport's attach (presence, channel messages, a global PM) waits in its
// queue and arrives first, in order, marked catchup.
func catchupBeforeAttach(e *behaviourEnv) {
	configs := map[string]any{"room": map[string]any{"notify_presence": true}}
	id := e.connect(map[string]any{"username": "alice", "channels": []string{"room"}, "channel_configs": configs})
	e.tg.Connect("bob", "room")
	e.send(
		map[string]any{"channel": "room", "message": msgText("c1")},
		map[string]any{"channel": "room", "message": msgText("c2")},
		map[string]any{"pm_users": []string{"alice"}, "message": msgText("c3")},
	)
	alice := e.open(id)
	got := takeFrames(e.t, alice, 4)
	wantFrame(e.t, got[0], map[string]any{"seq": 1, "type": "presence", "user": "bob", "message": map[string]any{"action": "joined"}, "catchup": true})
	for i, want := range []string{"c1", "c2", "c3"} {
		wantFrame(e.t, got[i+1], map[string]any{"seq": i + 2, "type": "message", "message": msgText(want), "catchup": true})
	}
	e.send(map[string]any{"channel": "room", "message": msgText("live")})
	wantFrame(e.t, takeFrame(e.t, alice), e.live(map[string]any{"seq": 5, "message": msgText("live")}))
}

// scenarioHeartbeat: an idle attached transport gets heartbeats (WebSocket "[]",
// SSE ": hb", long-poll the empty answer after longpoll_timeout), paced by
// the configuration, and still delivers afterwards.
func scenarioHeartbeat(e *behaviourEnv) {
	_, alice := e.attach("alice", "room")
	pace := 100 * time.Millisecond // heartbeat_interval
	if e.transport == "longpoll" {
		pace = 300 * time.Millisecond // longpoll_timeout
	}
	start := time.Now()
	for beat := range 3 {
		batch, err := alice.Next(20 * pace)
		if err != nil || len(batch) != 0 {
			e.t.Fatalf("heartbeat %d: %v %v", beat+1, batch, err)
		}
	}
	if took := time.Since(start); took < 2*pace {
		e.t.Errorf("3 heartbeats within %v: not paced by %v", took, pace)
	}
	e.send(map[string]any{"channel": "room", "message": msgText("after")})
	wantFrame(e.t, takeFrame(e.t, alice), map[string]any{"seq": 1, "message": msgText("after")})
}

// gcAfterInactivity: a subscriber whose network path drops (no goodbye)
// and never comes back is collected after conn_timeout, and the others hear
// it parted; an attached one is kept alive by its transport.
func gcAfterInactivity(e *behaviourEnv) {
	configs := map[string]any{"gc": map[string]any{"notify_presence": true}}
	aliceID := e.connect(map[string]any{"username": "alice", "channels": []string{"gc"}, "channel_configs": configs})
	alice := e.open(aliceID)
	bobID, bob := e.attach("bob", "gc")
	wantFrame(e.t, takeFrame(e.t, alice), map[string]any{"type": "presence", "user": "bob", "message": map[string]any{"action": "joined"}})

	bob.Drop()
	closed := time.Now()
	f := takeFrame(e.t, alice)
	took := time.Since(closed)
	wantFrame(e.t, f, map[string]any{"type": "presence", "user": "bob", "channel": "gc", "message": map[string]any{"action": "parted"}})
	if took < 500*time.Millisecond {
		e.t.Errorf("parted %v after bob left: collected before conn_timeout", took)
	}
	if e.hasConn(bobID) {
		e.t.Error("bob's connection is still there after parted")
	}
	if !e.hasConn(aliceID) {
		e.t.Error("alice's attached connection was collected")
	}
	e.t.Logf("parted %v after bob left (conn_timeout 1s, collector every 1s)", took.Round(time.Millisecond))
}

// goodbyeLeavesAtOnce: a client that says goodbye the way its transport
// has (WebSocket: a close frame with 1000, as ws.close() and a closed tab
// send; SSE and long-poll: the client library's unsigned beacon to
// /disconnect on pagehide) leaves at once: the others hear it parted
// within a second, long before conn_timeout.
func goodbyeLeavesAtOnce(e *behaviourEnv) {
	configs := map[string]any{"bye": map[string]any{"notify_presence": true}}
	aliceID := e.connect(map[string]any{"username": "alice", "channels": []string{"bye"}, "channel_configs": configs})
	alice := e.open(aliceID)
	bobID, bob := e.attach("bob", "bye")
	wantFrame(e.t, takeFrame(e.t, alice), map[string]any{"type": "presence", "user": "bob", "message": map[string]any{"action": "joined"}})

	left := time.Now()
	bob.Close()
	if e.transport != "websocket" {
		// What navigator.sendBeacon(url, string) sends.
		body := strings.NewReader(`{"conn_id": "` + bobID + `"}`)
		resp, err := http.Post(e.tg.URL+"/disconnect", "text/plain;charset=UTF-8", body)
		if err != nil {
			e.t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	f := takeFrame(e.t, alice)
	wantFrame(e.t, f, map[string]any{"type": "presence", "user": "bob", "channel": "bye", "message": map[string]any{"action": "parted"}})
	if took := time.Since(left); took > time.Second {
		e.t.Errorf("parted %v after bob said goodbye, want within 1s", took)
	}
	if e.hasConn(bobID) {
		e.t.Error("bob's connection is still there after parted")
	}
}

// disconnectClosesTransport: /disconnect ends the attached transport the
// way each transport can say it: WebSocket close 1000, the SSE stream
// ends, the next poll is refused with 401.
func disconnectClosesTransport(e *behaviourEnv) {
	id, alice := e.attach("alice", "room")
	if b := e.mustCall("GET", "/disconnect?conn_id="+id, nil); string(b) != "true" {
		e.t.Fatalf("/disconnect answered %s", b)
	}
	end := expectEnd(e.t, alice)
	switch e.transport {
	case "websocket":
		if end.Code != 1000 || end.Err != nil {
			e.t.Errorf("socket ended with %v, want close 1000", end)
		}
	case "sse":
		if !end.EOF {
			e.t.Errorf("stream ended with %v, want its end", end)
		}
	case "longpoll":
		if end.Code != 401 {
			e.t.Errorf("poll ended with %v, want 401", end)
		}
	}
	if e.hasConn(id) {
		e.t.Error("the connection survived /disconnect")
	}
}
