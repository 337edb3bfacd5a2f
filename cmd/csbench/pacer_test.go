package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPacerNeverWakesEarly(t *testing.T) {
	p, err := newPacer()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	ctx := context.Background()
	for _, d := range []time.Duration{-time.Millisecond, 0, 50 * time.Microsecond, 700 * time.Microsecond, 3 * time.Millisecond, 25 * time.Millisecond} {
		at := time.Now().Add(d)
		if err := p.until(ctx, at); err != nil {
			t.Fatalf("until(+%v): %v", d, err)
		}
		if now := time.Now(); now.Before(at) {
			t.Errorf("until(+%v) returned %v early", d, at.Sub(now))
		}
	}
}

func TestPacerEndsWithItsContext(t *testing.T) {
	p, err := newPacer()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	start := time.Now()
	if err := p.until(ctx, start.Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Fatalf("until: %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > time.Minute {
		t.Fatalf("until took %v after its context ended", took)
	}
}
