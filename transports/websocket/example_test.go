package websocket_test

import (
	"context"
	"net/http"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/transports/websocket"
)

// ExampleNew mounts the WebSocket transport of a hub at /ws and closes its
// sockets on shutdown.
func ExampleNew() {
	hub := core.New(core.Config{})
	ws := websocket.New(websocket.Config{Hub: hub, HeartbeatInterval: 5 * time.Second})

	mux := http.NewServeMux()
	mux.Handle("GET /ws", ws)
	srv := &http.Server{Addr: "127.0.0.1:8000", Handler: mux}
	_ = srv // go srv.ListenAndServe()

	// On SIGTERM: refuse new attachments everywhere, then close the sockets
	// with 1012 over the shutdown window.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	hub.Drain()
	_ = ws.Shutdown(ctx)
	_ = srv.Shutdown(ctx)
	// Output:
}
