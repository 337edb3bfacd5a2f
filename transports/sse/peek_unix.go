//go:build linux || darwin

package sse

import (
	"net"
	"syscall"
)

// peerClosed reports whether the client has closed its side of conn, by
// peeking at the socket without blocking: a readable end of stream (or a
// socket error) means it left. Pending bytes (a pipelined request, a TLS
// alert) do not count.
func peerClosed(conn net.Conn) bool {
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok { // *tls.Conn
		conn = nc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true // closed
	}
	closed := false
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			closed = n == 0
		case err == syscall.EAGAIN || err == syscall.EINTR:
		default:
			closed = true
		}
		return true // never wait
	})
	return closed || err != nil
}
