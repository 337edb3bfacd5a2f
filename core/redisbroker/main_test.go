package redisbroker_test

import (
	"os"
	"testing"

	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// theCluster is the one three-master Redis Cluster the package's tests
// share (each test keeps its keys apart); TestMain stops it.
var theCluster redistest.SharedCluster

// sharedCluster returns the package's Redis Cluster.
func sharedCluster(t *testing.T) *redistest.Cluster { return theCluster.Get(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	theCluster.Stop()
	os.Exit(code)
}
