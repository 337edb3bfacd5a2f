//go:build !race

package main

// raceEnabled reports whether the tests run under the race detector, which
// makes every goroutine and memory access several times slower.
const raceEnabled = false
