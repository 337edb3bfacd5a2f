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

func TestLogConformanceOnCluster(t *testing.T) {
	c := sharedCluster(t)
	coretest.TestLog(t, func(t *testing.T) core.Log {
		cfg := fastConfig
		cfg.URL = c.URL()
		return newLogAt(t, cfg)
	})
}
