package writer

import (
	"math/rand/v2"
	"time"
)

// HeartbeatSlots is how many moments of each heartbeat interval the
// heartbeats of a transport's connections are gathered on. Each connection
// keeps its own phase, rounded to one of these moments, so that the
// heartbeats of idle connections that fall close together wake the
// process together instead of one by one: each wake-up has a fixed cost
// (scheduler, timers, epoll, sysmon) that is then shared. The moments must
// stay many: every connection of a moment writes its heartbeat at once,
// and a delivery that arrives then waits behind all of them (~40
// connections per moment for 10 000). SSE uses these moments.
const HeartbeatSlots = 256

// PingSlots are the moments of WebSocket heartbeats (UntilPing), finer:
// each is a ping that the client answers, so a moment costs twice (the
// server's writes, then its reads of the pongs) and its clients answer
// together. On HeartbeatSlots, at 10 000 sockets, each moment held up
// deliveries for about a millisecond of the server's and as much of the
// clients' time, every 20 ms: most of the p99 of many small channels
// (csbench channels, 10 000 clients, 500 msg/s, 8 alternated pairs on a
// busy machine, p99 medians: 256 moments 2.74 ms, 1024 moments 1.96 ms,
// 4096 moments 1.42 ms). The price is idle CPU: csbench idle, 10 000
// sockets, 3 alternated rounds, 6.4 µs/s per socket on 256 moments, 8.0
// on 1024, 8.5 on 4096. Until that trade is decided (BENCHMARKS.md,
// "Small channels"), WebSocket keeps the 256 moments of HeartbeatSlots.
const PingSlots = HeartbeatSlots

// UntilBeat is the time from now to a connection's next heartbeat: one
// interval, rounded up to a multiple of interval / HeartbeatSlots on the
// clock.
func UntilBeat(interval time.Duration, now time.Time) time.Duration {
	return untilSlot(interval, now, HeartbeatSlots)
}

// UntilPing is UntilBeat on the moments of PingSlots.
func UntilPing(interval time.Duration, now time.Time) time.Duration {
	return untilSlot(interval, now, PingSlots)
}

func untilSlot(interval time.Duration, now time.Time, slots int64) time.Duration {
	slot := max(int64(interval)/slots, 1)
	at := now.UnixNano() + int64(interval)
	if r := at % slot; r != 0 {
		at += slot - r
	}
	return time.Duration(at - now.UnixNano())
}

// SpreadSlots is how many sub-moments a heartbeat moment is split into
// while frames flow (Spread): the heartbeats of a moment, written at once
// (and for a WebSocket, its pongs read at once and its clients answering
// together), hold up every delivery that arrives meanwhile. An idle
// process keeps them together, sharing its wake-ups; a busy one wakes
// often anyway, and spreads them.
const SpreadSlots = 16

// Spread returns a connection's offset within its heartbeat moments, drawn
// at random among SpreadSlots sub-moments of interval / HeartbeatSlots. A
// transport delays a heartbeat by it when frames flowed since the
// connection's last one.
func Spread(interval time.Duration) time.Duration {
	sub := interval / HeartbeatSlots / SpreadSlots
	return time.Duration(rand.N(SpreadSlots)) * sub
}
