package writer

import "time"

// HeartbeatSlots is how many moments of each heartbeat interval the
// heartbeats of a transport's connections are gathered on. Each connection
// keeps its own phase, rounded to one of these moments, so that the
// heartbeats of idle connections that fall close together wake the
// process together instead of one by one: each wake-up has a fixed cost
// (scheduler, timers, epoll, sysmon) that is then shared. The moments must
// stay many: every connection of a moment writes its heartbeat at once
// (and a WebSocket reads its pong), and a delivery that arrives then waits
// behind all of them (~40 connections per moment for 10 000).
const HeartbeatSlots = 256

// UntilBeat is the time from now to a connection's next heartbeat: one
// interval, rounded up to a multiple of interval / HeartbeatSlots on the
// clock.
func UntilBeat(interval time.Duration, now time.Time) time.Duration {
	slot := max(int64(interval/HeartbeatSlots), 1)
	at := now.UnixNano() + int64(interval)
	if r := at % slot; r != 0 {
		at += slot - r
	}
	return time.Duration(at - now.UnixNano())
}
