package redisbroker_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

func TestDataPlaneSpreadsPartitionsOverMasters(t *testing.T) {
	c := sharedCluster(t)
	d := newDataPlaneAt(t, c.URL(), coretest.DataPlaneOptions{})
	// One channel per partition.
	seen := map[int]bool{}
	var pubs []core.Publication
	for i := 0; len(seen) < d.Partitions(); i++ {
		s := core.Stream{Name: "spread-" + strconv.Itoa(i)}
		if k := d.Partition(s); !seen[k] {
			seen[k] = true
			pubs = append(pubs, core.Publication{Stream: s, Data: []byte("x")})
		}
	}
	if _, err := d.Publish(ctxFor(t), pubs); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	total := 0
	for _, addr := range c.Addrs() {
		n := len(keysOn(t, addr, prefixFor(t)+"*:ctr"))
		streams := len(keysOn(t, addr, prefixFor(t)+"*:c:spread-*"))
		t.Logf("master %s holds %d partition counters and %d channel streams", addr, n, streams)
		if n < d.Partitions()/4 || n != streams {
			t.Errorf("master %s holds %d of %d partitions (%d streams): not spread evenly", addr, n, d.Partitions(), streams)
		}
		total += n
	}
	if total != d.Partitions() {
		t.Fatalf("%d partition counters on the masters, want %d", total, d.Partitions())
	}
}

// keysOn returns the keys of the server at addr that match pattern.
func keysOn(t *testing.T, addr, pattern string) []string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	keys, err := c.Keys(ctxFor(t), pattern).Result()
	if err != nil {
		t.Fatalf("KEYS %s on %s: %v", pattern, addr, err)
	}
	return keys
}

// commandCalls returns the calls of every command the server at addr
// counted since its last CONFIG RESETSTAT (scripts' inner commands
// included), by command.
func commandCalls(t *testing.T, addr string) map[string]int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(ctxFor(t), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

func TestDataPlaneWorkPerPublishDoesNotGrowWithSubscribers(t *testing.T) {
	t.Parallel() // a Redis of its own
	const publishes = 50
	srv := redistest.Start(t) // its own server: the counts are the server's
	d := newDataPlaneAt(t, srv.URL(), coretest.DataPlaneOptions{})
	target := core.Stream{Name: "busy"}
	measure := func(streams int) map[string]int {
		// streams subscribing streams in one node, plus two more nodes
		// subscribing the target: a publish reaches 3 subscribers.
		for node := range 3 {
			sub := d.NewSubscriber(func(core.StreamEntry) {}, nil)
			defer sub.Close()
			if err := sub.Add(ctxFor(t), target); err != nil {
				t.Fatalf("Add: %v", err)
			}
			for i := range streams * (node / 2) {
				if err := sub.Add(ctxFor(t), core.Stream{Name: fmt.Sprintf("idle-%d", i)}); err != nil {
					t.Fatalf("Add: %v", err)
				}
			}
		}
		warm := core.Publication{Stream: target, Data: []byte("load the script")}
		if _, err := d.Publish(ctxFor(t), []core.Publication{warm}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		defer rdb.Close()
		if err := rdb.ConfigResetStat(context.Background()).Err(); err != nil {
			t.Fatalf("CONFIG RESETSTAT: %v", err)
		}
		for i := range publishes {
			pub := core.Publication{Stream: target, Data: []byte(strconv.Itoa(i))}
			if _, err := d.Publish(ctxFor(t), []core.Publication{pub}); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		calls := commandCalls(t, srv.Addr())
		delete(calls, "config|resetstat")
		delete(calls, "info")
		delete(calls, "ping")  // subscribers' keep-alives
		delete(calls, "hello") // a new connection
		return calls
	}
	few, many := measure(1), measure(1000)
	t.Logf("commands for %d publishes: %v (1 idle stream), %v (1000 idle streams)", publishes, few, many)
	if fmt.Sprint(few) != fmt.Sprint(many) {
		t.Fatalf("Redis ran other commands with 1000 subscribed streams: %v against %v", many, few)
	}
	if few["evalsha"] != publishes || few["spublish"] != publishes {
		t.Fatalf("want one script call and one SPUBLISH per publish, got %v", few)
	}
}
