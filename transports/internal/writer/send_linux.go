package writer

import (
	"syscall"
	"unsafe"
)

// RawSyscalls enables Conn's non-blocking writes on sockets (and the
// transports' own raw reads).
const RawSyscalls = true

// sendNoSignal is one send(2) of p on the non-blocking socket fd, with
// MSG_NOSIGNAL: a peer that reset the connection makes it fail with EPIPE
// instead of raising SIGPIPE. send skips the file layer that write(2)
// goes through.
//
// A raw system call (no entersyscall/exitsyscall): on a non-blocking
// socket it never waits, and a run of sends (the pump's) does not leave
// the P in a system call again and again, where sysmon would take it back
// and hand it to another thread.
func sendNoSignal(fd int, p []byte) (int, error) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)),
		syscall.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
