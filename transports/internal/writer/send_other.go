//go:build !linux

package writer

import "syscall"

// RawSyscalls is false: elsewhere than on Linux every write goes through
// net.Conn.Write with a deadline.
const RawSyscalls = false

func sendNoSignal(int, []byte) (int, error) { return 0, syscall.ENOTSUP }
