package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pacerCoarse is how much of a wait a pacer leaves to the runtime's timers
// (whose wake-ups on Linux come in whole milliseconds, see pacer): waits
// longer than this sleep on a timer for all but pacerFine of it first, so
// that a cancelled context ends them early.
const (
	pacerCoarse = 20 * time.Millisecond
	pacerFine   = 2 * time.Millisecond
)

// pacer waits until moments to within tens of microseconds. A Go timer
// does not: when nothing else is runnable the runtime sleeps in
// epoll_wait, whose timeout is whole milliseconds, so a sleep of 0.2 ms
// ends about 1 ms later. An open-loop publisher at 500 msg/s that sleeps
// between sends is then late by 0 to 1 ms (uniformly), and since each
// message carries its scheduled time, that lateness, which is csbench's
// and not the server's, is counted in every delivery's latency. A pacer
// waits on a timerfd instead, which the same epoll_wait reports as soon as
// it expires.
type pacer struct {
	f  *os.File
	fd int
}

// newPacer returns a pacer; close it when done.
func newPacer() (*pacer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	// Non-blocking, so the runtime's poller waits for it.
	return &pacer{f: os.NewFile(uintptr(fd), "csbench-pacer"), fd: fd}, nil
}

// until waits until t (at once when t has passed) or until ctx is done.
func (p *pacer) until(ctx context.Context, t time.Time) error {
	if d := time.Until(t); d > pacerCoarse {
		if err := sleepCtx(ctx, d-pacerFine); err != nil {
			return err
		}
	}
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	// A relative expiry: an it_value of zero would disarm the timer.
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	if err := unix.TimerfdSettime(p.fd, 0, &spec, nil); err != nil {
		return sleepCtx(ctx, time.Until(t))
	}
	// The deadline only guards against a timer that never fires.
	_ = p.f.SetReadDeadline(t.Add(time.Second))
	var buf [8]byte // the count of expirations
	if _, err := p.f.Read(buf[:]); err != nil {
		return sleepCtx(ctx, time.Until(t))
	}
	return ctx.Err()
}

// close releases the timerfd.
func (p *pacer) close() { _ = p.f.Close() }
