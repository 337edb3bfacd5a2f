//go:build unix

package longpoll

import (
	"slices"
	"syscall"
)

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

// readSome reads a request head into f.buf, up to f.max bytes. It returns
// false to wait until the socket is readable, true when the head is whole,
// f.buf is full, the client left (f.left), or the first bytes came (the
// header timeout starts then). No buffer is taken before the first byte.
func (f *followRead) readSome(fd uintptr) bool {
	for {
		if f.bp == nil {
			var b [512]byte
			n, err := syscall.Read(int(fd), b[:min(len(b), f.max)])
			switch {
			case n > 0:
				f.bp = bufPool.Get().(*[]byte)
				f.buf = append((*f.bp)[:0], b[:n]...)
				return true
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false
			default:
				f.left = true
				return true
			}
		}
		if headEnd(f.buf) >= 0 || len(f.buf) >= f.max {
			return true
		}
		f.buf = slices.Grow(f.buf, f.max-len(f.buf))
		n, err := syscall.Read(int(fd), f.buf[len(f.buf):f.max])
		switch {
		case n > 0:
			f.buf = f.buf[:len(f.buf)+n]
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return false
		default:
			f.left = true
			return true
		}
	}
}
