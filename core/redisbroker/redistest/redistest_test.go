package redistest_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// do sends one command to addr and returns the first line of the reply.
func do(addr string, timeout time.Duration, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(line, "$") && line != "$-1\r\n" {
		line, err = r.ReadString('\n')
	}
	return strings.TrimSuffix(line, "\r\n"), err
}

func TestStartedServerAnswersOnItsOwnPort(t *testing.T) {
	s := redistest.Start(t)
	if strings.HasSuffix(s.Addr(), ":6379") {
		t.Fatalf("Addr %s is Redis's default port", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Errorf("URL = %q, want %q", s.URL(), want)
	}
	if got, err := do(s.Addr(), time.Second, "PING"); err != nil || got != "+PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
}

func TestStopClosesThePort(t *testing.T) {
	s := redistest.Start(t)
	s.Stop()
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Fatal("port still accepts connections after Stop")
	}
	s.Stop() // stopping twice does nothing
}

func TestRestartServesTheSamePortEmpty(t *testing.T) {
	s := redistest.Start(t)
	addr := s.Addr()
	if got, err := do(addr, time.Second, "SET", "k", "v"); err != nil || got != "+OK" {
		t.Fatalf("SET = %q, %v", got, err)
	}
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("Addr after Restart = %s, want %s", s.Addr(), addr)
	}
	if got, err := do(addr, time.Second, "GET", "k"); err != nil || got != "$-1" {
		t.Fatalf("GET after Restart = %q, %v; want nil", got, err)
	}
	s.Stop()
	s.Restart() // from stopped too
	if got, err := do(addr, time.Second, "PING"); err != nil || got != "+PONG" {
		t.Fatalf("PING after Stop+Restart = %q, %v", got, err)
	}
}

func TestPausedServerAnswersAfterResume(t *testing.T) {
	s := redistest.Start(t)
	s.Pause()
	if got, err := do(s.Addr(), 200*time.Millisecond, "PING"); err == nil {
		t.Fatalf("paused server answered PING: %q", got)
	}
	s.Resume()
	if got, err := do(s.Addr(), time.Second, "PING"); err != nil || got != "+PONG" {
		t.Fatalf("PING after Resume = %q, %v", got, err)
	}
	s.Pause() // Stop (cleanup) ends a paused server too
}

func TestStartClusterServesAllSlots(t *testing.T) {
	c := redistest.StartCluster(t)
	if len(c.Servers) != 3 {
		t.Fatalf("%d servers", len(c.Servers))
	}
	for _, addr := range c.Addrs() {
		info, err := redistest.Command(addr, "CLUSTER", "INFO")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_known_nodes:3", "cluster_size:3"} {
			if !strings.Contains(info, want) {
				t.Fatalf("CLUSTER INFO of %s lacks %q:\n%s", addr, want, info)
			}
		}
	}
}
