package redisbroker_test

import (
	"os"
	"sync"
	"testing"

	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// theCluster is the one Redis Cluster the package's tests share (each test
// uses keys of its own); TestMain stops it.
var theCluster struct {
	once sync.Once
	c    *redistest.Cluster
	stop func()
}

// sharedCluster returns the package's three-master Redis Cluster, started
// on first use (about 2 s).
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

func TestMain(m *testing.M) {
	code := m.Run()
	if theCluster.stop != nil {
		theCluster.stop()
	}
	os.Exit(code)
}
