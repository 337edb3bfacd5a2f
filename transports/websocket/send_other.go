//go:build !linux

package websocket

import "syscall"

// rawWrites is false: elsewhere than on Linux sockConn reads through
// net.Conn.Read and writes through net.Conn.Write with a deadline.
const rawWrites = false

func sendNoSignal(int, []byte) (int, error) { return 0, syscall.ENOTSUP }

func readRaw(int, []byte) (int, error) { return 0, syscall.ENOTSUP }
