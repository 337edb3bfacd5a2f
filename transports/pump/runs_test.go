package pump

import (
	"testing"
	"time"
)

func TestRunsCountsEveryRunStarted(t *testing.T) {
	p := New(1)
	if p.Runs() != 0 {
		t.Fatalf("Runs of a new pump = %d", p.Runs())
	}
	done := make(chan struct{}, 3)
	task := p.Task(func() { done <- struct{}{} })
	for i := 1; i <= 3; i++ {
		task.Ready()
		<-done
		eventually(t, 5*time.Second, "the pump did not go idle", p.idle)
		if got := p.Runs(); got != uint64(i) {
			t.Fatalf("after %d runs, Runs = %d", i, got)
		}
	}
}
