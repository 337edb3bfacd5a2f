package httpapi

import (
	"net/netip"
	"sync"
	"time"
)

// signInLimiterEntries bounds the addresses the sign-in limiter remembers.
// When it is full, a new address takes the place of the record whose
// window started first (ended windows go first): an address is only ever
// refused for failures of its own.
const signInLimiterEntries = 10_000

// signInLimiter counts admin sign-in attempts per client address (IPv6 by
// its /64 network) in fixed windows: an attempt is admitted and counted in
// one step, and counts as a failure until succeed forgets the address; after
// max attempts within window of the first one, the address is refused until
// that window ends. Requests whose client address is unknown (an unparsable
// X-Forwarded-For) share one record of their own. It is safe for concurrent
// use.
type signInLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[netip.Addr]*signInFailures
}

// signInFailures is one address's window.
type signInFailures struct {
	start time.Time
	count int
}

func newSignInLimiter(max int, window time.Duration, now func() time.Time) *signInLimiter {
	return &signInLimiter{max: max, window: window, now: now, failures: map[netip.Addr]*signInFailures{}}
}

// signInKey is the address an attempt is counted under: IPv4 addresses
// as they are, IPv6 ones by their /64 (one host usually owns a whole /64),
// the invalid address (unknown client) as itself.
func signInKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// admit counts an attempt from ip, unless ip has used up its allowance.
// It returns how long ip must wait (0: the attempt is admitted and counted)
// and whether this attempt was the last the window allows.
func (l *signInLimiter) admit(ip netip.Addr) (wait time.Duration, last bool) {
	if l.max <= 0 {
		return 0, false
	}
	now := l.now()
	k := signInKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.failures[k]
	if f != nil && !now.Before(f.start.Add(l.window)) {
		f = nil // its window ended: start a new one in place
	}
	if f == nil {
		if _, ok := l.failures[k]; !ok && len(l.failures) >= signInLimiterEntries {
			l.makeRoomLocked(now)
		}
		f = &signInFailures{start: now}
		l.failures[k] = f
	}
	if f.count >= l.max {
		return f.start.Add(l.window).Sub(now), false
	}
	f.count++
	return 0, f.count == l.max
}

// succeed forgets ip's attempts.
func (l *signInLimiter) succeed(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, signInKey(ip))
}

// makeRoomLocked removes every record whose window has ended, or, when
// none has, the one whose window started first.
func (l *signInLimiter) makeRoomLocked(now time.Time) {
	var oldest netip.Addr
	var oldestStart time.Time
	found := false
	for k, f := range l.failures {
		if !now.Before(f.start.Add(l.window)) {
			delete(l.failures, k)
			continue
		}
		if !found || f.start.Before(oldestStart) {
			oldest, oldestStart, found = k, f.start, true
		}
	}
	if len(l.failures) >= signInLimiterEntries && found {
		delete(l.failures, oldest)
	}
}

// size is how many records the limiter holds (for tests).
func (l *signInLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.failures)
}
