package httpapi

import (
	"net/netip"
	"sync"
	"time"
)

// signInLimiterEntries bounds the addresses the sign-in limiter remembers.
// Past it, new addresses share one overflow record, so a flood from many
// addresses is still limited (together) and memory stays bounded.
const signInLimiterEntries = 10_000

// signInLimiter counts failed admin sign-ins per client address (IPv6 by
// its /64 network) in fixed windows: after max failures within window of
// the first one, the address is refused until that window ends. It is safe
// for concurrent use.
type signInLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	failures  map[netip.Addr]*signInFailures
	lastPrune time.Time
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
// as they are, IPv6 ones by their /64 (one host usually owns a whole /64).
func signInKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// wait reports how long ip must wait before it may try again; 0 means now.
func (l *signInLimiter) wait(ip netip.Addr) time.Duration {
	if l.max <= 0 {
		return 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.failures[signInKey(ip)]
	if f == nil {
		f = l.failures[netip.Addr{}] // this address may be counted in the overflow
	}
	if f == nil || f.count < l.max {
		return 0
	}
	return f.start.Add(l.window).Sub(now)
}

// fail records a failed attempt from ip and reports whether that attempt
// used up the address's allowance (it is refused from now on).
func (l *signInLimiter) fail(ip netip.Addr) bool {
	if l.max <= 0 {
		return false
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)
	k := signInKey(ip)
	f := l.failures[k]
	if f == nil && len(l.failures) >= signInLimiterEntries {
		k = netip.Addr{}
		f = l.failures[k]
	}
	if f == nil || !now.Before(f.start.Add(l.window)) {
		f = &signInFailures{start: now}
		l.failures[k] = f
	}
	f.count++
	return f.count == l.max
}

// succeed forgets ip's failures.
func (l *signInLimiter) succeed(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, signInKey(ip))
}

// pruneLocked drops the windows that have ended, at most once per window
// unless the table is full.
func (l *signInLimiter) pruneLocked(now time.Time) {
	if now.Sub(l.lastPrune) < l.window && len(l.failures) < signInLimiterEntries {
		return
	}
	l.lastPrune = now
	for k, f := range l.failures {
		if !now.Before(f.start.Add(l.window)) {
			delete(l.failures, k)
		}
	}
}

// size is how many records the limiter holds (for tests).
func (l *signInLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.failures)
}
