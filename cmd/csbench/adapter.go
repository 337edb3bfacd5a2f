package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Adapter is how csbench talks to one kind of server: it creates
// subscribers over one transport and publishes to channels. Every method is
// safe for concurrent use.
type Adapter interface {
	// Subscribe creates subscriber i (user "csb-<i>"), joins it to
	// channels and attaches its transport; frames it receives go to rec.
	// It returns once the subscriber is attached and subscribed (or, for
	// long-poll, polling).
	Subscribe(ctx context.Context, i int, channels []string, rec *Receiver) (Subscriber, error)
	// Publish sends one message whose payload is the JSON object message
	// to channel, and returns when the server accepted it.
	Publish(ctx context.Context, channel string, message []byte) error
	// Close releases the adapter's idle connections; the adapter stays
	// usable.
	Close()
}

// Subscriber is one client holding one transport.
type Subscriber interface {
	// Close ends the stream and waits until its reader has stopped, so that
	// its Receiver may be read.
	Close()
	// Stall makes the client stop reading (or polling), as a client on a
	// frozen device would; its Receiver should be excluded first.
	Stall()
	// Unstall lets a stalled client read again; it then drains what the
	// server still sends and its Receiver learns whether the server had
	// ended the stream.
	Unstall()
}

// AdapterConfig is what every adapter needs to reach its server.
type AdapterConfig struct {
	BaseURL   string // http://host:port
	AttachURL string // where transports attach, when not at BaseURL (node B of a cluster)
	Secret    string // API signing secret (channelstream) or JWT HMAC key (Centrifugo)
	APIKey    string // Centrifugo HTTP API key
	Transport string // ws, sse or longpoll
	SourceIPs int    // spread client sockets over 127.0.0.1 … 127.0.0.SourceIPs
}

// transports lists every transport some adapter knows.
var transports = []string{"ws", "sse", "longpoll"}

// userName is the user of subscriber i, on every server.
func userName(i int) string { return fmt.Sprintf("csb-%d", i) }

// checkTransport fails unless t is one of known.
func checkTransport(t string, known []string) error {
	if !slices.Contains(known, t) {
		return fmt.Errorf("unknown transport %q (known: %s)", t, strings.Join(known, ", "))
	}
	return nil
}
