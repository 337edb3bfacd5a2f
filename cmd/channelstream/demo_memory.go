package main

import "sync"

// demoMemory is a map that keeps its newest max entries.
type demoMemory[V any] struct {
	max   int
	mu    sync.Mutex
	gen   uint64
	m     map[string]demoEntry[V]
	order []demoKey // oldest first; entries whose gen is not the map's are stale
}

type demoEntry[V any] struct {
	v   V
	gen uint64
}

type demoKey struct {
	k   string
	gen uint64
}

func newDemoMemory[V any](max int) *demoMemory[V] {
	return &demoMemory[V]{max: max, m: map[string]demoEntry[V]{}}
}

func (dm *demoMemory[V]) put(k string, v V) {
	dm.mu.Lock()
	defer dm.mu.Unlock()
	dm.gen++
	dm.m[k] = demoEntry[V]{v: v, gen: dm.gen}
	dm.order = append(dm.order, demoKey{k, dm.gen})
	for len(dm.m) > dm.max {
		old := dm.order[0]
		dm.order = dm.order[1:]
		if e, ok := dm.m[old.k]; ok && e.gen == old.gen {
			delete(dm.m, old.k)
		}
	}
	if len(dm.order) > 2*dm.max { // mostly stale: compact
		live := dm.order[:0:0]
		for _, o := range dm.order {
			if e, ok := dm.m[o.k]; ok && e.gen == o.gen {
				live = append(live, o)
			}
		}
		dm.order = live
	}
}

func (dm *demoMemory[V]) get(k string) (V, bool) {
	dm.mu.Lock()
	defer dm.mu.Unlock()
	e, ok := dm.m[k]
	return e.v, ok
}

// prune forgets every key that keep refuses.
func (dm *demoMemory[V]) prune(keep func(k string) bool) {
	dm.mu.Lock()
	defer dm.mu.Unlock()
	for k := range dm.m {
		if !keep(k) {
			delete(dm.m, k)
		}
	}
}

// len is how many keys are remembered.
func (dm *demoMemory[V]) len() int {
	dm.mu.Lock()
	defer dm.mu.Unlock()
	return len(dm.m)
}

func (dm *demoMemory[V]) forget(k string) {
	dm.mu.Lock()
	defer dm.mu.Unlock()
	delete(dm.m, k)
}
