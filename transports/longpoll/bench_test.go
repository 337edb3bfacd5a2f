package longpoll

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// BenchmarkFanout publishes one message at a time to N long-poll clients
// waiting on loopback; every client re-polls as soon as it has an answer.
// An iteration ends when all N clients have the message. It reports the
// delivered messages per second and the publish→receive latency (p50/p99,
// measured in the client after decoding, gathering off).
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

type benchMsg struct {
	Message struct {
		T int64 `json:"t"`
	} `json:"message"`
}

func benchFanout(b *testing.B, n int) {
	e := newEnv(b, core.Config{}, Config{Timeout: 30 * time.Second, Gather: NoGather})
	e.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.connect(b, "u"+strconv.Itoa(i), "c")
	}

	ctx, cancel := context.WithCancel(context.Background())
	var (
		received atomic.Int64
		notify   = make(chan struct{}, 1)
		lats     = make([][]time.Duration, n)
		wg       sync.WaitGroup
	)
	for i, id := range ids {
		wg.Go(func() {
			url := e.pollURL(id, nil)
			var msgs []benchMsg
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := e.client.Do(req)
				if err != nil {
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					continue
				}
				msgs = msgs[:0]
				if json.Unmarshal(body, &msgs) != nil {
					b.Errorf("client %d: bad body %s", i, body)
					return
				}
				now := time.Now().UnixNano()
				for _, m := range msgs {
					lats[i] = append(lats[i], time.Duration(now-m.Message.T))
				}
				if len(msgs) > 0 {
					received.Add(int64(len(msgs)))
					select {
					case notify <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	waitFor(b, 30*time.Second, "every client to wait", func() bool { return e.h.Pending() == n })

	b.ResetTimer()
	start := time.Now()
	var target int64
	for range b.N {
		e.hub.Publish(context.Background(), []core.Message{{
			Kind: core.KindSend, UUID: core.NewUUID(), Channel: "c",
			Fields: map[string]json.RawMessage{
				"user":    json.RawMessage(`"bench"`),
				"message": json.RawMessage(`{"t":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}`),
			},
		}})
		target += int64(n)
		deadline := time.After(30 * time.Second)
		for received.Load() < target {
			select {
			case <-notify:
			case <-deadline:
				b.Fatalf("only %d of %d deliveries", received.Load(), target)
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	wg.Wait()

	all := slices.Concat(lats...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op") // an op is a whole fan-out round; msgs/s says more
}

// BenchmarkPendingPollMemory measures the memory a waiting poll holds on
// the server. It opens polls on raw TCP connections (whose client side is
// only a socket) and compares the live heap plus goroutine stacks at three
// points: before dialing, with the connections idle (accepted, no request
// yet), and with every poll waiting. It reports the bytes per idle HTTP/1.1
// connection, per waiting poll on top of it, and, for comparison, per
// request parked in a bare handler that only waits for its context (what
// net/http itself costs; the difference is this package's and core's).
func BenchmarkPendingPollMemory(b *testing.B) {
	const polls = 2000
	for range b.N {
		hub := core.New(core.Config{})
		h := New(Config{Hub: hub, Timeout: time.Minute})
		idle, poll := measureParked(b, h, polls, h.Pending, func(i int) string {
			res, err := hub.Connect(context.Background(), core.ConnectParams{Username: "u" + strconv.Itoa(i), Channels: []string{"c"}})
			if err != nil {
				b.Fatal(err)
			}
			return res.ConnID
		})
		var parked atomic.Int64
		bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			parked.Add(1)
			defer parked.Add(-1)
			<-r.Context().Done()
		})
		_, bareReq := measureParked(b, bare, polls, func() int { return int(parked.Load()) }, func(int) string { return core.NewUUID() })
		b.ReportMetric(idle, "B/idle-conn")
		b.ReportMetric(poll, "B/waiting-poll")
		b.ReportMetric(bareReq, "B/bare-request")
		b.ReportMetric(poll-bareReq, "B/poll-over-bare")
	}
	b.ReportMetric(0, "ns/op")
}

// measureParked serves h, opens n connections, sends one GET /listen on
// each and waits until parked() == n. newID runs before the baseline.
func measureParked(b *testing.B, h http.Handler, n int, parked func() int, newID func(int) string) (idleConn, request float64) {
	b.StopTimer()
	defer b.StartTimer()
	var accepted atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	ids := make([]string, n)
	for i := range ids {
		ids[i] = newID(i)
	}
	m0 := liveBytes()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		waitFor(b, 30*time.Second, "the requests to end", func() bool { return parked() == 0 })
	}()
	waitFor(b, 30*time.Second, "the server to accept", func() bool { return accepted.Load() == int64(n) })
	m1 := liveBytes()
	for i, c := range conns {
		if _, err := fmt.Fprintf(c, "GET /listen?conn_id=%s HTTP/1.1\r\nHost: bench\r\n\r\n", ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b, 30*time.Second, "every request to park", func() bool { return parked() == n })
	m2 := liveBytes()
	runtime.KeepAlive(conns)
	return float64(m1-m0) / float64(n), float64(m2-m1) / float64(n)
}

// liveBytes is the heap in use plus goroutine stacks after a collection.
func liveBytes() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// BenchmarkPollCycle is one poll answered at once (a frame is waiting:
// last_seq=0, gathering off) and the next one read, on one kept-alive
// connection, the client included: the per-poll cost of the request
// handling around the wait (the handler reads follow-ups itself).
func BenchmarkPollCycle(b *testing.B) {
	e := newEnv(b, core.Config{}, Config{Timeout: 30 * time.Second, Gather: NoGather})
	id := e.connect(b, "alice", "c")
	e.publish("c", "m")
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	get := []byte("GET /listen?conn_id=" + id + "&last_seq=0 HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench/1\r\n\r\n")
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(get); err != nil {
			b.Fatal(err)
		}
		// The answer is one write of head and body; its body is the one
		// frame, ending in "]".
		var got []byte
		for len(got) == 0 || got[len(got)-1] != ']' {
			n, err := c.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			got = append(got[:0], buf[:n]...)
		}
	}
	b.StopTimer()
	if n := e.h.FollowUps(); n < int64(b.N)-1 {
		b.Fatalf("the handler read %d of %d polls itself", n, b.N)
	}
}
