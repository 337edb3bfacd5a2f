//go:build unix

package longpoll

import "syscall"

// rawWatch: the watcher reads the socket through syscall.RawConn.
const rawWatch = true

// readSome reads what the client sent on the socket fd into early. It
// returns false to wait until the socket is readable, true when reading is
// over: the client closed or reset the connection, or sent too much.
func (p *held) readSome(fd uintptr) bool {
	var b [64]byte
	for {
		n, err := syscall.Read(int(fd), b[:])
		switch {
		case n > 0:
			p.early = append(p.early, b[:n]...)
			if len(p.early) > maxEarlyBytes {
				return true
			}
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return false
		default: // end of stream, or an error
			return true
		}
	}
}
