package coretest

import (
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
)

// LogSuite is the conformance suite of core.Log.
type LogSuite struct {
	// New returns a new, empty Log for one subtest, and releases it with
	// t.Cleanup. Subtests run in parallel, so the Logs it returns must not
	// share entries or snapshots. Required.
	New func(t *testing.T) core.Log
}

// TestLog runs the core.Log conformance suite against the Logs newLog
// returns (see LogSuite.New).
func TestLog(t *testing.T, newLog func(t *testing.T) core.Log) {
	LogSuite{New: newLog}.Run(t)
}

// logCase is one subtest of the suite: a name that states the outcome, and
// the check.
type logCase struct {
	name string
	run  func(t *testing.T, l core.Log)
}

// logCases are the subtests, in the order they are reported.
var logCases = []logCase{
	{"append returns growing ids", testAppendIDs},
	{"append copies op bytes", testAppendCopies},
	{"follow from the start sees every entry in order exactly once", testFollowFromStart},
	{"follow after an id sees only later entries", testFollowAfter},
	{"concurrent appenders and followers see one order", testConcurrentOrder},
	{"entries appended while following arrive promptly", testFollowPrompt},
	{"follow returns nil soon after its ctx is cancelled", testFollowCancel},
	{"load snapshot with none returns empty", testNoSnapshot},
	{"load snapshot returns the newest saved", testNewestSnapshot},
	{"snapshot state is copied both ways", testSnapshotCopies},
	{"follow after the snapshot id gets every later entry", testFollowAfterSnapshot},
	{"snapshot saved out of order leaves no gap after the loaded one", testSnapshotOutOfOrder},
	{"ping succeeds while the backend is reachable", testPing},
}

// Run runs the suite as parallel subtests of t.
func (s LogSuite) Run(t *testing.T) {
	t.Helper()
	if s.New == nil {
		t.Fatal("coretest: LogSuite.New is nil")
	}
	for _, c := range logCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, s.New(t))
		})
	}
}
