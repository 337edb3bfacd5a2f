package httpapi

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNow is a settable clock.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeNow) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func TestSignInIsRateLimitedPerAddress(t *testing.T) {
	clk := &fakeNow{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	a := newAdminAPI(t, func(c *Config) {
		c.Now = clk.Now
		c.TrustedProxies = []string{"127.0.0.1"} // the test picks its address with X-Forwarded-For
	})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	for range 5 {
		code, _, b := a.signIn("boss", "wrong", from("10.0.0.1"))
		status(t, code, http.StatusOK, b)
		clk.Add(time.Second)
	}
	t.Run("the sixth failure within a minute is refused with 429", func(t *testing.T) {
		code, h, b := a.signIn("boss", "wrong", from("10.0.0.1"))
		status(t, code, http.StatusTooManyRequests, b)
		if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra != 55 {
			t.Fatalf("Retry-After %q, want 55", h.Get("Retry-After"))
		}
		if !strings.Contains(string(b), "Too many failed sign-ins") || !strings.Contains(string(b), `name="password"`) {
			t.Fatalf("body %s", b)
		}
	})
	t.Run("even the right password is refused while blocked", func(t *testing.T) {
		code, h, b := a.signIn("boss", "hunter2", from("10.0.0.1"))
		status(t, code, http.StatusTooManyRequests, b)
		if authCookie(t, h) != nil {
			t.Fatal("a blocked address got a session")
		}
	})
	t.Run("another address is not blocked", func(t *testing.T) {
		code, _, b := a.signIn("boss", "wrong", from("10.0.0.2"))
		status(t, code, http.StatusOK, b)
		code, _, b = a.signIn("boss", "hunter2", from("10.0.0.2"))
		status(t, code, http.StatusFound, b)
	})
	t.Run("the same IPv6 /64 counts as one address", func(t *testing.T) {
		for i := range 5 {
			code, _, b := a.signIn("boss", "wrong", from("2001:db8::"+strconv.Itoa(i+1)))
			status(t, code, http.StatusOK, b)
		}
		code, _, b := a.signIn("boss", "wrong", from("2001:db8::ffff:1"))
		status(t, code, http.StatusTooManyRequests, b)
		code, _, b = a.signIn("boss", "wrong", from("2001:db8:0:1::1"))
		status(t, code, http.StatusOK, b)
	})
	t.Run("the block ends with the window", func(t *testing.T) {
		clk.Add(55 * time.Second)
		code, _, b := a.signIn("boss", "hunter2", from("10.0.0.1"))
		status(t, code, http.StatusFound, b)
	})
	t.Run("a success forgets the failures", func(t *testing.T) {
		for range 4 {
			a.signIn("boss", "wrong", from("10.0.0.3"))
		}
		code, _, b := a.signIn("boss", "hunter2", from("10.0.0.3"))
		status(t, code, http.StatusFound, b)
		for range 4 {
			code, _, b = a.signIn("boss", "wrong", from("10.0.0.3"))
			status(t, code, http.StatusOK, b)
		}
	})
}

func TestSignInLimitCanBeTurnedOff(t *testing.T) {
	a := newAdminAPI(t, func(c *Config) { c.SignInFailures = -1 })
	for range 8 {
		code, _, b := a.signIn("boss", "wrong", nil)
		status(t, code, http.StatusOK, b)
	}
}

func TestSignInLimiterMemoryIsBounded(t *testing.T) {
	clk := &fakeNow{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	l := newSignInLimiter(2, time.Minute, clk.Now)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	t.Run("a flood from many addresses stays within the bound", func(t *testing.T) {
		for i := range signInLimiterEntries + 500 {
			l.fail(addr(i))
		}
		if n := l.size(); n > signInLimiterEntries+1 {
			t.Fatalf("%d records, want at most %d", n, signInLimiterEntries+1)
		}
	})
	t.Run("addresses past the bound are limited together", func(t *testing.T) {
		if l.wait(addr(signInLimiterEntries+600)) <= 0 {
			t.Fatal("an untracked address is not limited while the overflow is")
		}
		if l.wait(addr(1)) != 0 {
			t.Fatal("an address with one failure is limited")
		}
	})
	t.Run("ended windows are pruned", func(t *testing.T) {
		clk.Add(time.Minute)
		l.fail(addr(1))
		if n := l.size(); n != 1 {
			t.Fatalf("%d records after the window, want 1", n)
		}
		if l.wait(addr(signInLimiterEntries+600)) != 0 {
			t.Fatal("the overflow is still limited after its window")
		}
	})
}
