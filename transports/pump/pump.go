// Package pump runs the writes of many connections from a few goroutines,
// in the order the connections became ready.
//
// A transport makes one Task per attached connection, with the function
// that writes what waits for it (without ever waiting itself), and gives
// Task.Ready to core.Session.Notify. A publish to N connections then lists
// N tasks and wakes at most one goroutine per CPU, which run the tasks one
// after the other: no goroutine wake-up, no select and no scheduling per
// delivery. Under load the order stays fair: a task made ready again while
// it waited in the list is not listed twice, and one made ready while it
// ran goes to the back of the list, so that when publishes come faster
// than the writes, each write carries more frames instead of each frame
// waiting longer.
//
// # Concurrency contract
//
// Ready may be called from any goroutine, with any locks held: it takes
// only the pump's own mutex, never blocks and never runs a task itself.
// A task's function runs on one of the pump's goroutines after every
// Ready, once for all the Ready calls made while it waited in the list; a
// Ready made while it runs lists it again. With more than one goroutine,
// a task listed again may start on another goroutine before its previous
// run ended: the function guards what it writes with a lock of its own
// (a transport has one anyway, shared with its connection's writer). The
// goroutines exist only while the list is not empty: an idle pump holds
// none.
package pump

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Pump is a list of ready tasks and the goroutines that run them. The zero
// value is not usable: make one with New.
type Pump struct {
	mu         sync.Mutex
	head, tail *Task
	running    int // goroutines running tasks
	max        int
	runs       atomic.Uint64 // task runs started, ever
}

// New returns a pump that runs tasks on up to workers goroutines at once
// (workers <= 0: GOMAXPROCS).
func New(workers int) *Pump {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &Pump{max: workers}
}

// Task is one connection's work: run, each time the connection is ready.
type Task struct {
	p   *Pump
	run func()
	// listed is true from Ready until the task is taken from the list
	// (just before it runs); next links the list (guarded by p.mu).
	listed atomic.Bool
	next   *Task
}

// Task returns a task that runs run on the pump each time it is made
// Ready. run must not wait for anything slow (a write that would block,
// a lock held across I/O): every other task waits behind it.
func (p *Pump) Task(run func()) *Task { return &Task{p: p, run: run} }

// Ready lists the task, unless it is listed already, and starts a
// goroutine when fewer than the pump's maximum run.
func (t *Task) Ready() {
	if t.listed.Swap(true) {
		return
	}
	p := t.p
	p.mu.Lock()
	if p.tail == nil {
		p.head = t
	} else {
		p.tail.next = t
	}
	p.tail = t
	start := p.running < p.max
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.loop()
	}
}

// take removes the first task of the list and returns it, or returns nil
// (and counts the caller's goroutine out) when the list is empty.
func (p *Pump) take() *Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.head
	if t == nil {
		p.running--
		return nil
	}
	p.head, t.next = t.next, nil
	if p.head == nil {
		p.tail = nil
	}
	// Unlisted before it runs: a Ready from now on lists it again.
	t.listed.Store(false)
	p.runs.Add(1)
	return t
}

// Runs returns how many task runs the pump has started so far: a
// transport compares two readings to learn whether frames flowed in
// between.
func (p *Pump) Runs() uint64 { return p.runs.Load() }

// loop runs listed tasks until the list is empty.
func (p *Pump) loop() {
	for t := p.take(); t != nil; t = p.take() {
		t.run()
	}
}
