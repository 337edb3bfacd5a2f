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
func sendNoSignal(fd int, p []byte) (int, error) {
	r, _, e := syscall.Syscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)),
		syscall.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
