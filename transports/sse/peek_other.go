//go:build !linux && !darwin

package sse

import "net"

// peerClosed cannot peek on this platform: a client that left is noticed
// when a write to it fails.
func peerClosed(net.Conn) bool { return false }
