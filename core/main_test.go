package core_test

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// theCluster is the one three-master Redis Cluster the package's tests
// share, started on first use (about 2 s); each test keeps its keys under
// a prefix of its own (clusterPrefix). TestMain stops it.
var theCluster struct {
	once sync.Once
	c    *redistest.Cluster
	stop func()
}

// sharedCluster returns the package's Redis Cluster.
func sharedCluster(t *testing.T) *redistest.Cluster {
	t.Helper()
	theCluster.once.Do(func() {
		theCluster.c, theCluster.stop = redistest.StartClusterForMain()
	})
	if theCluster.c == nil {
		t.Fatal("redistest: the shared cluster did not start (see the first test that asked for it)")
	}
	return theCluster.c
}

// prefixes numbers the key prefixes of clusterPrefix.
var prefixes atomic.Int64

// clusterPrefix is a key prefix of the test's own on the shared cluster: a
// test run again (-count) starts with no keys.
func clusterPrefix(t *testing.T) string {
	return fmt.Sprintf("test:%s:%d:", t.Name(), prefixes.Add(1))
}

func TestMain(m *testing.M) {
	code := m.Run()
	if theCluster.stop != nil {
		theCluster.stop()
	}
	os.Exit(code)
}
