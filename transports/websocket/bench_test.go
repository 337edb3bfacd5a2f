package websocket

import (
	"bytes"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/core"
)

// BenchmarkFanout publishes one message per iteration to a channel with N
// attached gorilla clients on loopback and waits until every client has it.
// It reports deliveries per second and the publish→receive latency
// percentiles over every delivery.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run("clients="+strconv.Itoa(n), func(b *testing.B) { benchFanout(b, n) })
	}
}

// fanoutClient is one receiving client of the benchmark.
type fanoutClient struct {
	c   *gws.Conn
	lat []time.Duration
}

func benchFanout(b *testing.B, n int) {
	e := newEnv(b, core.Config{}, Config{HeartbeatInterval: time.Hour})
	var delivered atomic.Int64
	var target atomic.Int64
	all := make(chan struct{}, 1)
	clients := make([]*fanoutClient, n)
	var wg sync.WaitGroup
	for i := range clients {
		fc := &fanoutClient{c: e.dial(e.connect("u"+strconv.Itoa(i), "c"))}
		clients[i] = fc
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, data, err := fc.c.ReadMessage()
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				for _, sent := range sentTimes(data) {
					fc.lat = append(fc.lat, time.Duration(now-sent))
					if delivered.Add(1) == target.Load() {
						all <- struct{}{}
					}
				}
			}
		}()
	}
	b.Cleanup(func() {
		for _, fc := range clients {
			_ = fc.c.Close()
		}
		wg.Wait()
	})

	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		target.Store(int64(n * (i + 1)))
		e.publish("c", strconv.FormatInt(time.Now().UnixNano(), 10))
		select {
		case <-all:
		case <-time.After(30 * time.Second):
			b.Fatalf("only %d of %d deliveries arrived", delivered.Load(), target.Load())
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()

	var lat []time.Duration
	for _, fc := range clients {
		_ = fc.c.SetReadDeadline(time.Now()) // stop the readers before reading lat
	}
	wg.Wait()
	for _, fc := range clients {
		lat = append(lat, fc.lat...)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(percentile(lat, 50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds()), "p99-µs")
}

// sentTimes extracts the publish timestamps ("message": "<unix ns>") of the
// objects of one frame; heartbeats yield none.
func sentTimes(frame []byte) []int64 {
	var out []int64
	key := []byte(`"message":"`)
	for {
		i := bytes.Index(frame, key)
		if i < 0 {
			return out
		}
		frame = frame[i+len(key):]
		j := bytes.IndexByte(frame, '"')
		if ns, err := strconv.ParseInt(string(frame[:j]), 10, 64); err == nil {
			out = append(out, ns)
		}
		frame = frame[j:]
	}
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}
