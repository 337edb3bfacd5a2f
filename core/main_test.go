package core_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// theCluster is the one three-master Redis Cluster the package's tests
// share (each test keeps its keys apart); TestMain stops it.
var theCluster redistest.SharedCluster

// sharedCluster returns the package's Redis Cluster.
func sharedCluster(t testing.TB) *redistest.Cluster { return theCluster.Get(t) }

// prefixes numbers the key prefixes of clusterPrefix.
var prefixes atomic.Int64

// clusterPrefix is a key prefix of the test's own on the shared cluster: a
// test run again (-count) starts with no keys.
func clusterPrefix(t testing.TB) string {
	return fmt.Sprintf("test:%s:%d:", t.Name(), prefixes.Add(1))
}

func TestMain(m *testing.M) {
	code := m.Run()
	theCluster.Stop()
	os.Exit(code)
}
