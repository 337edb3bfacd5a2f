package pump

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (p *Pump) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running == 0 && p.head == nil
}

func TestTasksRunInTheOrderTheyBecameReady(t *testing.T) {
	p := New(1)
	var mu sync.Mutex
	var order []int
	gate := make(chan struct{})
	first := p.Task(func() { <-gate }) // holds the only goroutine
	first.Ready()
	tasks := make([]*Task, 50)
	for i := range tasks {
		tasks[i] = p.Task(func() { mu.Lock(); order = append(order, i); mu.Unlock() })
	}
	for _, i := range []int{3, 1, 4, 1, 5, 9, 2, 6, 5, 3} {
		tasks[i].Ready() // a task listed twice runs once, at its first place
	}
	close(gate)
	eventually(t, 5*time.Second, "the pump did not drain", p.idle)
	if want := []int{3, 1, 4, 5, 9, 2, 6}; !slices.Equal(order, want) {
		t.Fatalf("ran %v, want %v", order, want)
	}
}

func TestReadyWhileRunningRunsAgain(t *testing.T) {
	p := New(1)
	runs := make(chan int, 10)
	var task *Task
	n := 0
	task = p.Task(func() {
		n++
		if n == 1 {
			task.Ready() // as a publish during the write would
		}
		runs <- n
	})
	task.Ready()
	eventually(t, 5*time.Second, "the pump did not drain", p.idle)
	if len(runs) != 2 {
		t.Fatalf("the task ran %d times, want 2 (once more after the Ready made during its run)", len(runs))
	}
}

func TestGoroutinesExistOnlyWhileTasksWait(t *testing.T) {
	before := runtime.NumGoroutine()
	p := New(4)
	var wg sync.WaitGroup
	tasks := make([]*Task, 1000)
	for i := range tasks {
		tasks[i] = p.Task(func() { wg.Done() })
	}
	for round := 0; round < 3; round++ {
		wg.Add(len(tasks))
		for _, task := range tasks {
			task.Ready()
		}
		wg.Wait()
		eventually(t, 5*time.Second, "the pump's goroutines did not leave", func() bool {
			return p.idle() && runtime.NumGoroutine() <= before
		})
	}
}

func TestNeverMoreGoroutinesThanItsMaximum(t *testing.T) {
	p := New(2)
	gate := make(chan struct{})
	var mu sync.Mutex
	running, most := 0, 0
	tasks := make([]*Task, 20)
	for i := range tasks {
		tasks[i] = p.Task(func() {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			<-gate
			mu.Lock()
			running--
			mu.Unlock()
		})
		tasks[i].Ready()
	}
	eventually(t, 5*time.Second, "two tasks did not start", func() bool { mu.Lock(); defer mu.Unlock(); return running == 2 })
	close(gate)
	eventually(t, 5*time.Second, "the pump did not drain", p.idle)
	if most != 2 {
		t.Fatalf("at most %d tasks ran at once, want 2", most)
	}
}
