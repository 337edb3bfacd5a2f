//go:build linux

package main

import "syscall"

// setRcvBuf returns a net.Dialer Control function that sets the socket's
// receive buffer to n bytes before it connects (the TCP window follows).
func setRcvBuf(n int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		}); err != nil {
			return err
		}
		return serr
	}
}
