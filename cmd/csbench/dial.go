package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// errFileLimit wraps EMFILE/ENFILE: the process (or the system) cannot open
// another socket. It is reported as is instead of as a connection failure.
var errFileLimit = errors.New("too many open files (EMFILE): a process holds at most RLIMIT_NOFILE sockets; run fewer clients per csbench process")

// errPortsExhausted wraps EADDRNOTAVAIL: no free ephemeral port for the
// source address.
var errPortsExhausted = errors.New("no free local port (EADDRNOTAVAIL): use more source addresses (--source-ips)")

// dialer opens client TCP connections, spreading them over the source
// addresses 127.0.0.1 … 127.0.0.k so that more than one address's ephemeral
// ports can be used.
type dialer struct {
	srcs []*net.TCPAddr
	next atomic.Uint64
	d    net.Dialer
}

func newDialer(sourceIPs int) *dialer {
	dl := &dialer{d: net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}}
	if sourceIPs > 1 {
		for i := 1; i <= sourceIPs; i++ {
			dl.srcs = append(dl.srcs, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i))})
		}
	}
	return dl
}

// DialContext dials addr from the next source address.
func (dl *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := dl.d
	if len(dl.srcs) > 0 {
		d.LocalAddr = dl.srcs[dl.next.Add(1)%uint64(len(dl.srcs))]
	}
	c, err := d.DialContext(ctx, network, addr)
	return c, classifyDialErr(err)
}

// classifyDialErr turns resource exhaustion into errFileLimit or
// errPortsExhausted, keeping the original error in the chain.
func classifyDialErr(err error) error {
	switch {
	case err == nil || errors.Is(err, errFileLimit) || errors.Is(err, errPortsExhausted):
		return err // nil, or already classified
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("%w: %w", errFileLimit, err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%w: %w", errPortsExhausted, err)
	}
	return err
}

// fileLimit returns the soft RLIMIT_NOFILE of this process (Go raises it to
// the hard limit at start-up).
func fileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// fileMargin is the open files csbench needs besides client sockets: the
// REST pools, the publisher, stdio, /proc reads.
const fileMargin = 64

// raiseFileLimit raises this process's RLIMIT_NOFILE so that n client
// sockets fit: the soft limit up to the hard one, and the hard one too
// when the process may (CAP_SYS_RESOURCE), up to /proc/sys/fs/nr_open. It
// fails with errFileLimit, naming the system's limit, when n cannot fit.
func raiseFileLimit(n int) error {
	need := uint64(n + fileMargin)
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return nil // unknown: let the dials tell
	}
	if rl.Cur >= need {
		return nil
	}
	if rl.Max < need {
		want := rl
		want.Max = need
		if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
			if nrOpen, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
				want.Max = min(want.Max, nrOpen)
			}
		}
		want.Cur = want.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			rl = want
		}
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	if lim := fileLimit(); lim > 0 && lim < need {
		return fmt.Errorf("%d clients need about %d open files, but the system lets one process hold only %d "+
			"(hard RLIMIT_NOFILE, which this process may not raise; raise it as root with 'ulimit -Hn' or LimitNOFILE=, "+
			"or run fewer --clients; the server needs as many): %w", n, need, lim, errFileLimit)
	}
	return nil
}
