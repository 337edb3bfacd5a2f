package main

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// TestClusterNodeRestartKeepsConnections: a node restarted with the same
// redis_url lets its clients resume their connections at once, all
// together, while it is still reading its state back from Redis (found by
// the Redis soak: the attachments made before it caught up were told
// "unknown connection").
func TestClusterNodeRestartKeepsConnections(t *testing.T) {
	const n = 300
	srv := redistest.Start(t)
	bin := buildBinary(t)
	port := "0"
	start := func() *runningBinary {
		return startBinary(t, bin, nil, "--host", "127.0.0.1", "--port", port, "--secret", "s", "--redis_url", srv.URL())
	}
	rb := start()
	port = rb.addr[len("127.0.0.1:"):]
	tg := &testGateway{t: t, URL: "http://" + rb.addr, Secret: "s"}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = tg.Connect(fmt.Sprint("u", i), "c")
		openWS(t, tg.URL, ids[i]) // attached until the SIGTERM
	}
	if err := rb.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-rb.done
	_ = rb.cmd.Wait()

	start()
	began := time.Now()
	var refused atomic.Int64
	_ = forEachParallel(n, n, func(i int) error { // every client resumes at once, as after a restart
		ws := &wsSubscriber{base: "ws" + tg.URL[len("http"):] + "/ws?conn_id=" + ids[i], in: newInbox()}
		if err := ws.attach(ws.base + "&last_seq=0"); err != nil {
			return err
		}
		defer ws.Close()
		if _, err := ws.Next(300 * time.Millisecond); err != nil && err != errNoBatch {
			if refused.Add(1) <= 3 {
				t.Logf("%s resumed %v after the restart: %v", ids[i], time.Since(began).Round(time.Millisecond), err)
			}
		}
		return nil
	})
	pollUntil(t, 15*time.Second, "the restarted node ready", func() bool { return readyz(tg) == 200 })
	held := scrapeURL(t, tg.URL)["channelstream_connections"]
	if refused.Load() > 0 {
		t.Errorf("%d of %d resumes refused as unknown; the node holds %.0f connections", refused.Load(), n, held)
	}
}
