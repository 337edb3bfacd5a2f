package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// startCluster starts n nodes sharing the Redis database at url. The API
// calls made through any of them (Call, post, Connect) go to every node in
// turn. It returns once every node answers /readyz with 200. The nodes run
// in data-plane mode (redis_data_plane, the default) unless mutate says
// otherwise or CHANNELSTREAM_TEST_DATA_PLANE=0 is in the environment, which
// runs every cluster test in log-only mode:
//
//	CHANNELSTREAM_TEST_DATA_PLANE=0 go test -race -run 'TestBehaviourCluster|TestCluster' ./cmd/channelstream
func startCluster(t *testing.T, n int, url string, mutate func(*Config)) []*testGateway {
	t.Helper()
	nodes := make([]*testGateway, n)
	for i := range nodes {
		nodes[i] = startGateway(t, func(c *Config) {
			if os.Getenv("CHANNELSTREAM_TEST_DATA_PLANE") == "0" {
				c.RedisDataPlane = false
			}
			if mutate != nil {
				mutate(c)
			}
			c.RedisURL = url
		})
	}
	for _, nd := range nodes {
		nd.spread = nodes
		pollUntil(t, 10*time.Second, nd.URL+" ready", func() bool { return readyz(nd) == http.StatusOK })
	}
	return nodes
}

// readyz returns the status of GET /readyz (0 when the node does not answer).
func readyz(tg *testGateway) int {
	resp, err := http.Get(tg.URL + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBehaviourCluster runs the behaviour table of TestBehaviour on two
// nodes sharing one Redis, in data-plane mode: the REST calls (/connect
// included) go to both nodes in turn, and the transport under test
// attaches to the second one. Each transport has a redis-server of its
// own; each scenario a database.
func TestBehaviourCluster(t *testing.T) {
	behaviourCluster(t, clientTransports, nil)
}

// TestBehaviourClusterLogOnly runs the same table in log-only mode
// (redis_data_plane = false: every node replicates every queue) over
// WebSocket, so that the mode kept for those who choose it does not rot;
// CHANNELSTREAM_TEST_DATA_PLANE=0 runs every cluster test that way.
func TestBehaviourClusterLogOnly(t *testing.T) {
	behaviourCluster(t, clientTransports[:1], func(c *Config) { c.RedisDataPlane = false })
}

func behaviourCluster(t *testing.T, transports []clientTransport, mode func(*Config)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv := redistest.Start(t)
			for i, sc := range behaviourScenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					url := fmt.Sprintf("redis://%s/%d", srv.Addr(), i)
					nodes := startCluster(t, 2, url, func(c *Config) {
						behaviourConfig(c)
						if sc.config != nil {
							sc.config(c)
						}
						if mode != nil {
							mode(c)
						}
					})
					e := &behaviourEnv{t: t, tg: nodes[0], transport: tr.name}
					e.open = func(id string) subscriber { return tr.open(t, nodes[1], id) }
					sc.run(e)
				})
			}
		})
	}
}

// adminView is admin.json without the per-node uptime.
func adminView(t *testing.T, tg *testGateway) string {
	t.Helper()
	code, b := tg.Call("GET", "/admin/admin.json", nil)
	if code != http.StatusOK {
		t.Fatalf("admin.json: %d %s", code, b)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	delete(v, "uptime")
	delete(v, "transports")
	out, _ := json.Marshal(v)
	return string(out)
}

// TestClusterInfoAndAdminAreClusterWide makes changes through three nodes
// in turn and reads /info and admin.json from each: all equal (admin.json
// without the per-node uptime and transport counts).
func TestClusterInfoAndAdminAreClusterWide(t *testing.T) {
	srv := redistest.Start(t)
	nodes := startCluster(t, 3, srv.URL(), behaviourConfig)
	api := nodes[0] // its calls go to every node in turn
	api.Call("POST", "/channel_config", map[string]any{"room": map[string]any{"store_history": true, "notify_presence": true}})
	ids := []string{api.Connect("alice", "room"), api.Connect("bob", "room", "other"), api.Connect("alice", "other")}
	api.Call("POST", "/user_state", map[string]any{"user": "alice", "user_state": map[string]any{"mood": "fine"}, "state_public_keys": []string{"mood"}})
	for i := range 5 {
		api.Call("POST", "/message", map[string]any{"channel": "room", "user": "s", "message": msgText(fmt.Sprint(i))})
	}
	api.Call("POST", "/unsubscribe", map[string]any{"conn_id": ids[1], "channels": []string{"other"}})
	api.Call("POST", "/disconnect", map[string]any{"conn_id": ids[2]})

	wantAdmin := adminView(t, nodes[0])
	for _, nd := range nodes {
		code, info := nd.Call("POST", "/info", map[string]any{"info": map[string]any{}})
		if code != http.StatusOK {
			t.Fatalf("info: %d %s", code, info)
		}
		if got := adminView(t, nd); got != wantAdmin {
			t.Fatalf("admin.json differs between nodes:\n%s\n%s", got, wantAdmin)
		}
	}
	var first []byte
	for i, nd := range nodes {
		// Call spreads; ask each node directly.
		_, b, err := nd.nodeAPI().Call(t.Context(), "POST", "/info", []byte(`{"info": {}}`))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b
		} else if string(b) != string(first) {
			t.Fatalf("/info differs between nodes:\n%s\n%s", b, first)
		}
	}
	if !strings.Contains(string(first), `"total_connections":2`) {
		t.Fatalf("info: %s", first)
	}
}

// redisCalls returns how many times Redis ran each command so far
// (INFO commandstats), by command name.
func redisCalls(t *testing.T, addr string) map[string]int {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	info, err := rdb.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		calls, _ := strconv.Atoi(n)
		out[strings.TrimPrefix(name, "cmdstat_")] = calls
	}
	return out
}

// TestClusterRedisWritesPerPublishDoNotGrowWithSubscribers publishes the
// same messages to 5 and to 300 subscribers on the other node and counts
// the commands Redis ran for them: the same number of appends (one XADD
// per /message), whatever the audience.
func TestClusterRedisWritesPerPublishDoNotGrowWithSubscribers(t *testing.T) {
	srv := redistest.Start(t)
	nodes := startCluster(t, 2, srv.URL(), func(c *Config) {
		behaviourConfig(c)
		c.HeartbeatInterval, c.ConnTimeout = time.Minute, 5*time.Minute // no activity entries during the count
	})
	const messages = 20
	writes := func(room string, subscribers int) int {
		for i := range subscribers {
			nodes[1].Connect(fmt.Sprint("u", i), room)
		}
		nodes[1].g.hub.Sync(t.Context())
		before := redisCalls(t, srv.Addr())
		for i := range messages {
			code, body, err := nodes[0].post(nil, "POST", "/message", map[string]any{"channel": room, "user": "s", "message": msgText(fmt.Sprint(i))})
			if err != nil || code != http.StatusOK {
				t.Fatalf("message: %d %s %v", code, body, err)
			}
		}
		after := redisCalls(t, srv.Addr())
		return after["xadd"] - before["xadd"]
	}
	few, many := writes("few", 5), writes("many", 300)
	if few != many || few != messages {
		t.Fatalf("XADDs for %d messages: %d with 5 subscribers, %d with 300 (want %d each)", messages, few, many, messages)
	}
	code, body := nodes[0].Call("POST", "/info", map[string]any{"info": map[string]any{"channels": []string{"many"}, "include_history": false, "include_users": false}})
	if code != http.StatusOK || !strings.Contains(string(body), `"total_connections":300`) {
		t.Fatalf("info: %d %s", code, body)
	}
}
