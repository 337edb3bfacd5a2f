package sse

import (
	"syscall"
	"unsafe"
)

// rawWrites enables frameWriter's own non-blocking writes on sockets.
const rawWrites = true

// sendNoSignal is one send(2) of p on the non-blocking socket fd, with
// MSG_NOSIGNAL: a peer that reset the connection makes it fail with EPIPE
// instead of raising SIGPIPE. send skips the file layer that write(2)
// goes through.
//
// A raw system call (no entersyscall/exitsyscall): on a non-blocking
// socket it never waits. Through syscall.Syscall6, the pump's run of
// thousands of sends in a row left the P in a system call again and
// again, where sysmon took it back and handed it to another thread
// (fan-out to 10 000 streams: the server's threads waited for the CPU
// 22-27 % of the time, against 5-7 % for WebSocket, which already sent
// this way).
func sendNoSignal(fd int, p []byte) (int, error) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)),
		syscall.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
