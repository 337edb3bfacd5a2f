package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/httpapi"
	"github.com/channelstream-go/channelstream-go/transports/longpoll"
	"github.com/channelstream-go/channelstream-go/transports/sse"
	"github.com/channelstream-go/channelstream-go/transports/websocket"
)

// The demo's own hub: in memory on this node, bounded, with its own
// transports, so that the demo's users and channels never meet the
// application's.

// The demo hub's bounds: a public demo must not grow without bound.
const (
	demoMaxConns       = 200       // connections at once
	demoMaxUsers       = 200       // users remembered, with or without a connection
	demoMaxChannels    = 100       // channels at once
	demoConnsPerUser   = 10        // connections of one user (tabs)
	demoMaxHistory     = 50        // per channel (upstream's notify keeps 50)
	demoQueueFrames    = 200       // per connection
	demoQueueBytes     = 256 << 10 // per connection
	demoMaxMessageSize = 16 << 10  // bytes of one message as delivered
)

// demoHubConfig is the configuration of the demo's own hub.
func demoHubConfig(cfg Config, log zerolog.Logger) core.Config {
	return core.Config{
		ConnTimeout:        cfg.ConnTimeout,
		UserTimeout:        cfg.ConnTimeout, // a user whose last connection went is forgotten then
		MaxHistory:         demoMaxHistory,
		QueueFrames:        demoQueueFrames,
		QueueBytes:         demoQueueBytes,
		MaxChannelsPerConn: demoChannelsMax,
		MaxConnsPerUser:    demoConnsPerUser,
		MaxConnections:     demoMaxConns,
		MaxChannels:        demoMaxChannels,
		MaxMessageBytes:    demoMaxMessageSize,
		MaxStateKeys:       10,
		MaxStateValueBytes: 256,
		Logger:             log,
	}
}

// newGatewayDemo builds the demo of a gateway: a hub of its own with its
// transports, and a REST API handler on that hub, reachable only in
// process (so allow_posting_from, trusted_proxies and enforce_https, which
// are about remote callers, do not apply to it). Run its hub with Run.
func newGatewayDemo(cfg Config, log zerolog.Logger) (*demo, error) {
	hub := core.New(demoHubConfig(cfg, log.With().Str("hub", "demo").Logger()))
	gather := cfg.LongpollGather
	if gather == 0 {
		gather = longpoll.NoGather
	}
	api, err := httpapi.New(httpapi.Config{
		Hub:               hub,
		Secret:            cfg.Secret,
		NoSignatureMaxAge: !cfg.ValidateRequests,
		AllowPostingFrom:  []string{"127.0.0.1"},
		MaxBodyBytes:      cfg.MaxBodyBytes,
		Logger:            log,
	})
	if err != nil {
		return nil, fmt.Errorf("build the demo's API: %w", err)
	}
	d := newDemo(api, cfg.Secret, log)
	d.hub = hub
	d.live = hub.HasConn
	d.ws = websocket.New(websocket.Config{Hub: hub, HeartbeatInterval: cfg.HeartbeatInterval,
		ShutdownWindow: cfg.ShutdownGrace, Logger: log.With().Str("transport", "websocket").Logger()})
	d.sse = sse.New(sse.Config{Hub: hub, HeartbeatInterval: cfg.HeartbeatInterval,
		Logger: log.With().Str("transport", "sse").Logger()})
	d.longpoll = longpoll.New(longpoll.Config{Hub: hub, Timeout: cfg.LongpollTimeout, Gather: gather,
		Logger: log.With().Str("transport", "longpoll").Logger()})
	return d, nil
}

// Run runs the demo hub's collector until ctx is done, and forgets the
// demo's record of each connection the hub no longer has at every
// collector interval.
func (d *demo) Run(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- d.hub.Run(ctx) }()
	t := time.NewTicker(d.hub.Config().GCInterval)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
			d.conns.prune(d.live)
		}
	}
}

// transports are the demo hub's transports, for the gateway's drain.
func (d *demo) transports() map[string]interface{ Shutdown(context.Context) error } {
	return map[string]interface{ Shutdown(context.Context) error }{
		"demo websocket": d.ws, "demo sse": d.sse, "demo longpoll": d.longpoll}
}

// transport returns the demo hub's transport for rest (/ws, /sse,
// /listen), nil for anything else or before the hub is wired.
func (d *demo) transport(rest string) http.Handler {
	if d.hub == nil {
		return nil
	}
	switch rest {
	case "/ws":
		return d.ws
	case "/sse":
		return d.sse
	case "/listen":
		return d.longpoll
	}
	return nil
}
