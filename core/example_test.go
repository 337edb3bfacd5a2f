package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// exampleNow is a fixed clock so that the examples' output is stable.
func exampleNow() time.Time { return time.Date(2026, 11, 25, 9, 23, 9, 22902000, time.UTC) }

const (
	aliceConn = "11111111-1111-4111-8111-111111111111"
	bobConn   = "22222222-2222-4222-8222-222222222222"
)

func ExampleNew() {
	h := core.New(core.Config{QueueFrames: 500})
	cfg := h.Config()
	fmt.Println(cfg.QueueFrames, cfg.QueueBytes, cfg.ConnTimeout, cfg.MaxHistory)
	// Output: 500 1048576 15s 1000
}

func ExampleHub_Connect() {
	ctx := context.Background()
	h := core.New(core.Config{Now: exampleNow})
	res, err := h.Connect(ctx, core.ConnectParams{
		Username:        "alice",
		ConnID:          aliceConn,
		Channels:        []string{"room", "lobby"},
		UserState:       core.State{"color": "red", "email": "a@example.com"},
		StatePublicKeys: []string{"color"},
		Info:            core.DefaultInfoOptions(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.ConnID, res.Channels, res.PublicState)
	fmt.Println(res.ChannelsInfo.Channels["room"].Users, res.ChannelsInfo.Channels["room"].LastActive)

	// The same conn id from another user is refused.
	_, err = h.Connect(ctx, core.ConnectParams{Username: "mallory", ConnID: aliceConn})
	fmt.Println(err)
	// Output:
	// 11111111-1111-4111-8111-111111111111 [lobby room] map[color:red]
	// [alice] 2026-11-25T09:23:09.022902
	// connect "11111111-1111-4111-8111-111111111111" as "mallory": connection id belongs to another user
}

func ExampleHub_Subscribe() {
	ctx := context.Background()
	h := core.New(core.Config{})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn, Channels: []string{"a"}})
	res, _ := h.Subscribe(ctx, core.SubscribeParams{ConnID: aliceConn, Channels: []string{"c", "a", "b"}})
	fmt.Println(res.Channels, res.SubscribedTo)
	// Output: [a b c] [b c]
}

func ExampleHub_Unsubscribe() {
	ctx := context.Background()
	h := core.New(core.Config{})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn, Channels: []string{"a", "b"}})
	res, _ := h.Unsubscribe(ctx, core.SubscribeParams{ConnID: aliceConn, Channels: []string{"b", "zzz"}})
	fmt.Println(res.Channels, res.UnsubscribedFrom)
	// Output: [a] [b]
}

func ExampleHub_SetUserState() {
	ctx := context.Background()
	h := core.New(core.Config{})
	h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"room": {NotifyState: true, HistorySize: 10, StoreFrames: true}})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn, Channels: []string{"room"},
		UserState: core.State{"color": "red"}, StatePublicKeys: []string{"color"}})
	s, _ := h.Attach(aliceConn, core.AttachOptions{})

	res, _ := h.SetUserState(ctx, core.UserStateParams{User: "alice", State: core.State{"color": "blue", "token": "x"}})
	fmt.Println(res.ChangedState, res.PublicKeys)

	out, _, _ := s.Next(nil, 0)
	var frames []struct {
		Type    string `json:"type"`
		User    string `json:"user"`
		Message struct {
			State   core.State         `json:"state"`
			Changed []core.StateChange `json:"changed"`
		} `json:"message"`
	}
	_ = json.Unmarshal(out, &frames)
	fmt.Println(frames[0].Type, frames[0].User, frames[0].Message.State, frames[0].Message.Changed)
	// Output:
	// [{color blue} {token x}] [color]
	// user_state_change alice map[color:blue] [{color blue}]
}

func ExampleHub_Publish() {
	ctx := context.Background()
	h := core.New(core.Config{Now: exampleNow})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn, Channels: []string{"room"}})
	s, _ := h.Attach(aliceConn, core.AttachOptions{Transport: "websocket"})

	h.Publish(ctx, []core.Message{{
		Kind:    core.KindSend,
		UUID:    "33333333-3333-4333-8333-333333333333",
		Channel: "room",
		Fields: map[string]json.RawMessage{
			"user":    json.RawMessage(`"bob"`),
			"message": json.RawMessage(`{"text":"hi"}`),
			"edited":  json.RawMessage(`null`),
		},
	}, {
		Kind:    core.KindEdit,
		UUID:    "33333333-3333-4333-8333-333333333333",
		Channel: "room",
		Fields:  map[string]json.RawMessage{"message": json.RawMessage(`{"text":"hello"}`)},
	}})
	out, n, last := s.Next(nil, 0)
	fmt.Println(n, last)
	fmt.Println(string(out))
	// Output:
	// 2 2
	// [{"seq":1,"catchup":false,"channel":"room","edited":null,"message":{"text":"hello"},"type":"message","user":"bob","uuid":"33333333-3333-4333-8333-333333333333"},{"seq":2,"channel":"room","message":{"text":"hello"},"type":"message:edit","uuid":"33333333-3333-4333-8333-333333333333"}]
}

func ExampleHub_Attach() {
	ctx := context.Background()
	h := core.New(core.Config{})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn, Channels: []string{"room"}})
	say := func(text string) {
		h.Publish(ctx, []core.Message{{Kind: core.KindSend, UUID: core.NewUUID(), Channel: "room",
			Fields: map[string]json.RawMessage{"message": json.RawMessage(fmt.Sprintf(`{"text":%q}`, text))}}})
	}
	texts := func(out []byte) (list []string) {
		var frames []struct {
			Seq     uint64          `json:"seq"`
			Catchup bool            `json:"catchup"`
			Message json.RawMessage `json:"message"`
		}
		_ = json.Unmarshal(out, &frames)
		for _, f := range frames {
			list = append(list, fmt.Sprintf("%d:%s:%v", f.Seq, f.Message, f.Catchup))
		}
		return list
	}

	say("one") // queued before any transport: catchup
	first, _ := h.Attach(aliceConn, core.AttachOptions{Transport: "websocket"})
	say("two")
	out, _, _ := first.Next(nil, 0)
	fmt.Println(texts(out))

	// The socket drops; the client reconnects and resumes after seq 1, the
	// last one it processed.
	say("three")
	second, _ := h.Attach(aliceConn, core.AttachOptions{Transport: "websocket", Resume: true, LastSeq: 1})
	<-first.Done()
	fmt.Println(first.Reason())
	out, _, _ = second.Next(nil, 0)
	fmt.Println(texts(out))
	// Output:
	// [1:{"text":"one"}:true 2:{"text":"two"}:false]
	// disconnect 4000: replaced by a newer transport
	// [2:{"text":"two"}:false 3:{"text":"three"}:false]
}

func ExampleSession_Next() {
	ctx := context.Background()
	h := core.New(core.Config{QueueFrames: 2})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn})
	for i := range 4 {
		h.Publish(ctx, []core.Message{{Kind: core.KindSend, UUID: fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i),
			PMUsers: []string{"alice"}}})
	}
	// Only the last two frames fit in the queue: a client resuming from the
	// start learns exactly which seqs it lost.
	s, _ := h.Attach(aliceConn, core.AttachOptions{Resume: true, LastSeq: 0})
	var buf []byte
	for {
		select {
		case <-s.Ready():
			out, n, last := s.Next(buf[:0], 2)
			fmt.Println(n, last, string(out))
			buf = out
			continue
		default:
		}
		break
	}
	// Output:
	// 2 3 [{"type":"gap","from_seq":1,"to_seq":2},{"seq":3,"catchup":true,"channel":null,"type":"message","uuid":"00000000-0000-4000-8000-000000000002"}]
	// 1 4 [{"seq":4,"catchup":true,"channel":null,"type":"message","uuid":"00000000-0000-4000-8000-000000000003"}]
}

func ExampleHub_Info() {
	ctx := context.Background()
	h := core.New(core.Config{})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", Channels: []string{"a", "b"}, UserState: core.State{"k": "v"}})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "bob", Channels: []string{"a"}})

	info := h.Info(ctx, core.InfoOptions{Channels: []string{"a"}, IncludeUsers: true})
	fmt.Println(info.Channels["a"].Users, info.Channels["a"].TotalConnections, len(info.Users))
	fmt.Println(info.Users[0].User, info.Users[0].State)

	// Without users, total_users still counts them.
	info = h.Info(ctx, core.InfoOptions{ExcludeChannels: []string{"b"}})
	fmt.Println(len(info.Channels), info.Channels["a"].Users, info.Channels["a"].TotalUsers)
	// Output:
	// [alice bob] 2 2
	// alice map[k:v]
	// 1 [] 2
}

func ExampleHub_ConfigureChannels() {
	ctx := context.Background()
	h := core.New(core.Config{})
	cfg := core.DefaultChannelConfig()
	cfg.StoreHistory, cfg.HistorySize = true, 50
	info, _ := h.ConfigureChannels(ctx, map[string]core.ChannelConfig{"news": cfg})
	b, _ := json.Marshal(info.Channels["news"].Settings)
	fmt.Println(string(b))
	// Output: {"notify_presence":false,"store_history":true,"history_size":50,"broadcast_presence_with_user_lists":false,"notify_state":false,"store_frames":true}
}

func ExampleHub_Admin() {
	ctx := context.Background()
	now := exampleNow()
	h := core.New(core.Config{Now: func() time.Time { return now }})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn, Channels: []string{"a"}})
	h.Publish(ctx, []core.Message{{Kind: core.KindSend, UUID: core.NewUUID(), Channel: "a"}})
	now = now.Add(26*time.Hour + 3*time.Minute + 4*time.Second)

	a := h.Admin(ctx)
	fmt.Println(a.RememberedUserCount, a.UniqueUserCount, a.TotalConnections, a.TotalChannels, a.TotalMessages, a.TotalUniqueMessages)
	fmt.Println(a.Users[0].User, a.Users[0].Connections, a.Uptime)
	// Output:
	// 1 1 1 1 1 1
	// alice [11111111-1111-4111-8111-111111111111] 1 day, 2:03:04
}

func ExampleHub_Disconnect() {
	ctx := context.Background()
	h := core.New(core.Config{})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn})
	s, _ := h.Attach(aliceConn, core.AttachOptions{})
	first, _ := h.Disconnect(ctx, aliceConn)
	second, _ := h.Disconnect(ctx, aliceConn)
	fmt.Println(first, second)
	<-s.Done()
	fmt.Println(s.Reason().Code, s.Reason().Reason)
	// Output:
	// true false
	// 1000 connection closed
}

func ExampleHub_Collect() {
	ctx := context.Background()
	now := exampleNow()
	h := core.New(core.Config{ConnTimeout: 15 * time.Second, Now: func() time.Time { return now }})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "bob", ConnID: bobConn})
	s, _ := h.Attach(bobConn, core.AttachOptions{})

	now = now.Add(10 * time.Second)
	s.Touch() // bob's transport wrote a heartbeat
	now = now.Add(10 * time.Second)
	fmt.Println(h.Collect(), h.Admin(ctx).TotalConnections)
	// Output: 1 1
}

func ExampleHub_Run() {
	h := core.New(core.Config{GCInterval: 5 * time.Millisecond, ConnTimeout: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = h.Run(ctx) }()

	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn})
	s, _ := h.Attach(aliceConn, core.AttachOptions{})
	<-s.Done() // nobody touches the connection: the collector removes it
	fmt.Println(s.Reason() == core.DisconnectGone)
	// Output: true
}

func ExampleHub_Drain() {
	ctx := context.Background()
	h := core.New(core.Config{})
	_, _ = h.Connect(ctx, core.ConnectParams{Username: "alice", ConnID: aliceConn})
	s, _ := h.Attach(aliceConn, core.AttachOptions{})

	// Shutting down: refuse new transports, then close the open ones with
	// a reconnect hint. The connections stay for a resume elsewhere.
	h.Drain()
	_, err := h.Attach(aliceConn, core.AttachOptions{})
	fmt.Println(h.Draining(), err)
	fmt.Println(h.EndSessions(core.DisconnectShutdown), s.Reason().Code, h.HasConn(aliceConn))
	// Output:
	// true hub is draining
	// 1 1012 true
}

func ExampleFormatTime() {
	fmt.Println(core.FormatTime(time.Date(2026, 11, 25, 9, 23, 9, 22902000, time.UTC)))
	fmt.Println(core.FormatTime(time.Date(2026, 11, 25, 10, 0, 0, 0, time.FixedZone("CET", 3600))))
	// Output:
	// 2026-11-25T09:23:09.022902
	// 2026-11-25T09:00:00
}
