package drain

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWaitReturnsWhenTheLastOneIsDone(t *testing.T) {
	var g Group
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait on an empty group: %v", err)
	}
	g.Add()
	g.Add()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with 2 held: %v, want the deadline", err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Wait(context.Background()) }()
	g.Done()
	if g.Len() != 1 {
		t.Fatalf("Len %d, want 1", g.Len())
	}
	g.Done()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the last Done")
	}
}
