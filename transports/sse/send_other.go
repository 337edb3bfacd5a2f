//go:build !linux

package sse

import "syscall"

// rawWrites is false: elsewhere than on Linux every write goes through
// net.Conn.Write with a deadline.
const rawWrites = false

func sendNoSignal(int, []byte) (int, error) { return 0, syscall.ENOTSUP }
