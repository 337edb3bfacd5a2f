package redisbroker_test

import (
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

func TestLogConformance(t *testing.T) {
	srv := redistest.Start(t) // one server; each subtest has its own key prefix
	coretest.TestLog(t, func(t *testing.T) core.Log {
		return newLog(t, srv, fastConfig)
	})
}
