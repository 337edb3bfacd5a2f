//go:build !unix

package longpoll

// rawWatch is false: elsewhere the watcher reads through net.Conn.Read.
const rawWatch = false

func (p *held) readSome(uintptr) bool { return true }

func (f *followRead) readSome(uintptr) bool { f.left = true; return true }
