package websocket

import (
	"syscall"
	"unsafe"
)

// readRaw is one read(2) into p from the non-blocking socket fd, as a raw
// system call (no entersyscall/exitsyscall): it never waits, and every
// pong's read does not leave the P in a system call, where sysmon, on one
// CPU, would take it back and hand it to another thread (futex wake-ups).
func readRaw(fd int, p []byte) (int, error) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
