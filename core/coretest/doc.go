// Package coretest holds conformance suites that every implementation of a
// core interface must pass, whatever its backend: run them from the
// implementation's own tests.
//
//	func TestLog(t *testing.T) {
//		coretest.TestLog(t, func(t *testing.T) core.Log {
//			return newEmptyLog(t) // closed by t.Cleanup
//		})
//	}
//
// The suites only use the interface, wait with deadlines (a Log that loses
// an entry fails the test rather than hanging it), run their subtests in
// parallel, and stop every goroutine they start before a subtest ends.
package coretest
