package core

import "fmt"

// Disconnect is why the hub ended a transport session. Transports use Code as
// the WebSocket close code, and every transport logs Reason.
type Disconnect struct {
	Code   int
	Reason string
}

// Error makes a Disconnect usable as an error value.
func (d Disconnect) Error() string { return fmt.Sprintf("disconnect %d: %s", d.Code, d.Reason) }

// The reasons the hub ends a session with.
var (
	// DisconnectGone: the connection was removed (/disconnect or the collector).
	DisconnectGone = Disconnect{Code: 1000, Reason: "connection closed"}
	// DisconnectReplaced: a newer transport attached to the same connection.
	DisconnectReplaced = Disconnect{Code: 4000, Reason: "replaced by a newer transport"}
	// DisconnectSlow: the client did not keep up and its queue overflowed.
	DisconnectSlow = Disconnect{Code: 1008, Reason: "slow consumer"}
	// DisconnectShutdown: the server is restarting; reconnect later.
	DisconnectShutdown = Disconnect{Code: 1012, Reason: "service restart"}
)
