package websocket

import (
	"syscall"
	"unsafe"
)

// rawWrites enables sockConn's own reads and non-blocking writes on
// sockets.
const rawWrites = true

// sendNoSignal is one send(2) of p on the non-blocking socket fd, with
// MSG_NOSIGNAL: a peer that reset the connection makes it fail with EPIPE
// instead of raising SIGPIPE. send skips the file layer that write(2)
// goes through.
//
// It and readRaw are raw system calls (no entersyscall/exitsyscall): on a
// non-blocking socket they never wait. Through syscall.Syscall, every
// heartbeat's send and every pong's read left the P in a system call,
// where sysmon, on one CPU, took it back and handed it to another thread
// (futex wake-ups) and kept itself polling every 20 µs.
func sendNoSignal(fd int, p []byte) (int, error) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)),
		syscall.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// readRaw is one read(2) into p from the non-blocking socket fd.
func readRaw(fd int, p []byte) (int, error) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
