//go:build !linux

package websocket

import "syscall"

// readRaw is not used elsewhere than on Linux (writer.RawSyscalls is
// false): sockConn reads through net.Conn.Read.
func readRaw(int, []byte) (int, error) { return 0, syscall.ENOTSUP }
