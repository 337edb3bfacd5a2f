package main

import (
	"context"
	"fmt"
)

// Adapter is how csbench talks to one kind of server: it creates
// subscribers on a channel over one transport and publishes to a channel.
// Every method is safe for concurrent use.
type Adapter interface {
	// Subscribe creates subscriber i, joins it to channel and attaches its
	// transport; frames it receives go to rec. It returns once the
	// subscriber is attached (or, for long-poll, polling).
	Subscribe(ctx context.Context, i int, channel string, rec *Receiver) (Subscriber, error)
	// Publish sends one message whose "message" object is the JSON object
	// message to channel, and returns when the server accepted it.
	Publish(ctx context.Context, channel string, message []byte) error
	// Close releases the adapter's idle connections.
	Close()
}

// Subscriber is one client holding one transport.
type Subscriber interface {
	// Close ends the stream and waits until its reader has stopped, so that
	// its Receiver may be read.
	Close()
}

// AdapterConfig is what every adapter needs to reach its server.
type AdapterConfig struct {
	BaseURL   string // http://host:port
	Secret    string // API signing secret
	Transport string // ws, sse or longpoll
	SourceIPs int    // spread client sockets over 127.0.0.1 … 127.0.0.SourceIPs
}

// transports lists the transports every adapter knows.
var transports = []string{"ws", "sse", "longpoll"}

// newAdapter returns the adapter called name.
func newAdapter(name string, cfg AdapterConfig) (Adapter, error) {
	switch name {
	case "channelstream":
		return newChannelstream(cfg)
	}
	return nil, fmt.Errorf("unknown adapter %q (known: channelstream)", name)
}
