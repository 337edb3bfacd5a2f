package redisbroker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

func TestNewRejectsAMalformedURL(t *testing.T) {
	for _, url := range []string{"http://127.0.0.1:6379", "redis://127.0.0.1:6379/notadb", "::"} {
		if l, err := redisbroker.New(redisbroker.Config{URL: url}); err == nil {
			_ = l.Close()
			t.Errorf("New(URL %q) succeeded, want an error", url)
		}
	}
}

func TestNewDoesNotConnect(t *testing.T) {
	// Nothing listens on port 1: New still succeeds, Ping says why not.
	l, err := redisbroker.New(redisbroker.Config{URL: "redis://127.0.0.1:1/0"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer l.Close()
	if err := l.Ping(ctxFor(t)); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Ping = %v, want ErrUnavailable", err)
	}
}

func TestFollowRejectsAMalformedID(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	for _, after := range []string{"7", "a-b", "1-2-3", "-1"} {
		err := l.Follow(ctxFor(t), after, func(core.Entry) {}, nil)
		if err == nil || errors.Is(err, core.ErrUnavailable) {
			t.Errorf("Follow after %q = %v, want a parse error", after, err)
		}
	}
}

func TestWrongKeyTypeIsNotAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	if err := rawClient(t, srv).Set(ctxFor(t), prefixFor(t)+"{ctl}:log", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := l.Append(ctxFor(t), []byte("x"))
	if err == nil || errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Append to a string key = %v, want a non-ErrUnavailable error", err)
	}
	if !errors.Is(err, core.ErrNotStored) {
		t.Fatalf("Append to a string key = %v, want core.ErrNotStored: Redis refused it", err)
	}
}

func TestCloseEndsFollowAndLaterCalls(t *testing.T) {
	srv := redistest.Start(t)
	l := newLog(t, srv, fastConfig)
	done := make(chan error, 1)
	delivered := make(chan struct{}, 1)
	go func() {
		done <- l.Follow(context.Background(), "", func(core.Entry) {
			select {
			case delivered <- struct{}{}:
			default:
			}
		}, nil)
	}()
	mustAppend(t, l, "one")
	select {
	case <-delivered:
	case <-time.After(waitTimeout):
		t.Fatal("Follow delivered nothing")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Follow returned %v after Close, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Follow did not return after Close")
	}
	if _, err := l.Append(ctxFor(t), []byte("x")); err == nil || errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Append after Close = %v, want an error that is not ErrUnavailable", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCompareIDsOrdersNumerically(t *testing.T) {
	var l redisbroker.Log
	cases := []struct {
		a, b string
		want int
	}{
		{"1-0", "1-0", 0},
		{"9-0", "10-0", -1},
		{"10-2", "10-10", -1},
		{"1700000000000-5", "1699999999999-99", 1},
		{"18446744073709551615-0", "18446744073709551614-18446744073709551615", 1},
		{"bad", "0-0", -1},
		{"0-0", "bad", 1},
	}
	for _, c := range cases {
		if got := l.CompareIDs(c.a, c.b); got != c.want {
			t.Errorf("CompareIDs(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
