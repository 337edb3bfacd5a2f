package main

import (
	"net/http"
	"testing"

	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// TestClusterOnARedisCluster runs two nodes on a Redis Cluster of three
// masters (redis_url redis+cluster://h1:p1,h2:p2,h3:p3) with the data
// plane: both get ready (the data plane answers on every master), and a
// message sent through one node reaches a WebSocket attached to the other.
func TestClusterOnARedisCluster(t *testing.T) {
	rc := redistest.StartCluster(t)
	nodes := startCluster(t, 2, rc.URL(), func(c *Config) {
		behaviourConfig(c)
		c.RedisDataPlane = true
	})
	id := nodes[0].Connect("alice", "room")
	ws, err := dialWS(nodes[1].URL, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Close)
	code, body, err := nodes[0].post(nil, "POST", "/message", map[string]any{"channel": "room", "user": "s", "message": msgText("hello")})
	if err != nil || code != http.StatusOK {
		t.Fatalf("message: %d %s %v", code, body, err)
	}
	if got := takeFrames(t, ws, 1); got[0].Text() != "hello" {
		t.Fatalf("alice got %v", got)
	}
}
