package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

func ExampleSign() {
	fmt.Println(client.Sign("secret", client.SignedValue, time.Unix(1600000000, 0)))
	// Output: channelstream.X14QAA.QLT3kgcJYg14C3PAy4wtyg5uGgI
}

func ExampleClient_Connect() {
	url, stop := startNode("s3cret")
	defer stop()
	c := client.New(client.Config{BaseURL: url, Secret: "s3cret"})
	ctx := context.Background()

	conn, err := c.Connect(ctx, client.ConnectRequest{
		Username:        "alice",
		Channels:        []string{"news", "chat"},
		UserState:       client.State{"color": "red", "email": "a@example.com"},
		StatePublicKeys: []string{"color"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(conn.Username, conn.Channels, conn.PublicState)
	fmt.Println(conn.ChannelsInfo.Channels["news"].Users)
	fmt.Println(c.AttachURL("ws", conn.ConnID, 0) == "ws"+url[len("http"):]+"/ws?conn_id="+conn.ConnID)
	// Output:
	// alice [chat news] map[color:red]
	// [alice]
	// true
}

func ExampleClient_Send() {
	url, stop := startNode("s3cret")
	defer stop()
	c := client.New(client.Config{BaseURL: url, Secret: "s3cret"})
	ctx := context.Background()

	cfg := client.DefaultChannelConfig()
	cfg.StoreHistory = true
	if _, err := c.ConfigureChannels(ctx, map[string]client.ChannelConfig{"news": cfg}); err != nil {
		fmt.Println(err)
		return
	}
	sent, err := c.Send(ctx, client.Message{User: "system", Channel: "news", Message: map[string]any{"text": "hello"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(sent), sent[0].User, sent[0].Message, sent[0].UUID != "")

	info, err := c.Info(ctx, client.InfoOptions{Channels: []string{"news"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(info.Channels["news"].History))
	// Output:
	// 1 system map[text:hello] true
	// 1
}

func ExampleError() {
	url, stop := startNode("s3cret")
	defer stop()
	ctx := context.Background()

	_, err := client.New(client.Config{BaseURL: url, Secret: "s3cret"}).Connect(ctx, client.ConnectRequest{})
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, string(apiErr.Body))
	}
	_, err = client.New(client.Config{BaseURL: url, Secret: "wrong"}).Info(ctx, client.InfoOptions{})
	fmt.Println(err)
	// Output:
	// 422 {"username":["Length must be between 1 and 512."]}
	// POST /info: 401 Unauthorized: {"request":"Bad Signature"}
}
