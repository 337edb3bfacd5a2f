package coretest_test

import (
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
)

func TestMemoryLog(t *testing.T) {
	coretest.TestLog(t, func(t *testing.T) core.Log { return core.NewMemoryLog() })
}
