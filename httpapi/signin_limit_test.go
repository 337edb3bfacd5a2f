package httpapi

import (
	"io"
	"net/http"
	"net/netip"
	"net/url"
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
		for i := range signInLimiterEntries + 20 {
			l.admit(addr(i))
		}
		if n := l.size(); n > signInLimiterEntries {
			t.Fatalf("%d records, want at most %d", n, signInLimiterEntries)
		}
	})
	t.Run("an address past the bound is counted on its own", func(t *testing.T) {
		fresh := addr(signInLimiterEntries + 600)
		for i := range 2 {
			if wait, _ := l.admit(fresh); wait != 0 {
				t.Fatalf("attempt %d of a fresh address refused for %v", i+1, wait)
			}
		}
		if wait, _ := l.admit(fresh); wait <= 0 {
			t.Fatal("a fresh address's third attempt is admitted")
		}
		if wait, _ := l.admit(addr(signInLimiterEntries + 19)); wait != 0 {
			t.Fatal("a recent address with one failure is refused")
		}
	})
	t.Run("ended windows make room first", func(t *testing.T) {
		clk.Add(time.Minute)
		l.admit(addr(1))
		l.admit(addr(signInLimiterEntries + 700))
		if n := l.size(); n > signInLimiterEntries {
			t.Fatalf("%d records after the window, want at most %d", n, signInLimiterEntries)
		}
	})
}

// TestSignInAdmitsAndCountsAtOnce: 300 concurrent wrong passwords from one
// address: at most 5 have their credentials checked, the rest get 429
// (issue 12, item 3a). Each request's body is held back until every
// request is on its way, so a limiter that checks before it counts lets
// most of them through.
func TestSignInAdmitsAndCountsAtOnce(t *testing.T) {
	a := newAdminAPI(t, func(c *Config) { c.TrustedProxies = []string{"127.0.0.1"} })
	const n = 300
	form := url.Values{"username": {"boss"}, "password": {"wrong"}}.Encode()
	release := make(chan struct{})
	codes := make(chan int, n)
	var started sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n}, Timeout: 30 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	for range n {
		started.Add(1)
		go func() {
			body := &heldBody{data: []byte(form), reading: started.Done, release: release}
			req, err := http.NewRequest("POST", a.srv.URL+"/admin/sign_in", body)
			if err != nil {
				started.Done()
				codes <- 0
				return
			}
			req.ContentLength = int64(len(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", "10.1.2.3")
			resp, err := client.Do(req)
			body.once.Do(body.reading) // in case the body was never read
			if err != nil {
				codes <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	started.Wait()
	close(release)
	count := map[int]int{}
	for range n {
		count[<-codes]++
	}
	if count[http.StatusOK] != 5 || count[http.StatusTooManyRequests] != n-5 {
		t.Fatalf("answers by status %v, want 5 forms (credentials checked) and %d 429s", count, n-5)
	}
}

// heldBody is a request body whose first Read (the client has sent the
// headers) calls reading and then waits for release.
type heldBody struct {
	data    []byte
	reading func()
	release <-chan struct{}
	once    sync.Once
}

func (b *heldBody) Read(p []byte) (int, error) {
	b.once.Do(func() {
		b.reading()
		<-b.release
	})
	if len(b.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

// TestSignInFloodsLockOutNobodyElse: failures from more addresses than the
// limiter remembers (10 010 /64s of one IPv6 /48), or from clients whose
// X-Forwarded-For does not parse, do not refuse an address that has no
// failures of its own (issue 12, item 3b).
func TestSignInFloodsLockOutNobodyElse(t *testing.T) {
	a := newAdminAPI(t, func(c *Config) { c.TrustedProxies = []string{"127.0.0.1"} })
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	t.Run("an unparsable X-Forwarded-For", func(t *testing.T) {
		for range 5 {
			code, _, b := a.signIn("boss", "wrong", from("not-an-address"))
			status(t, code, http.StatusOK, b)
		}
		code, _, b := a.signIn("boss", "wrong", from("also:bad"))
		status(t, code, http.StatusTooManyRequests, b) // the unknown clients share their record
		code, _, b = a.signIn("boss", "hunter2", from("10.9.9.9"))
		status(t, code, http.StatusFound, b)
	})
	t.Run("10 010 /64s of one /48", func(t *testing.T) {
		l := a.api.signIns
		for i := range signInLimiterEntries + 10 {
			ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, byte(i >> 8), byte(i), 15: 1})
			for range 5 {
				l.admit(ip)
			}
		}
		code, _, b := a.signIn("boss", "hunter2", from("10.9.9.10"))
		status(t, code, http.StatusFound, b)
		code, _, b = a.signIn("boss", "hunter2", from("2001:db8:2::1"))
		status(t, code, http.StatusFound, b)
	})
}
