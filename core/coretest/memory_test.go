package coretest_test

import (
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
)

func TestMemoryLog(t *testing.T) {
	coretest.TestLog(t, func(t *testing.T) core.Log { return core.NewMemoryLog() })
}

func TestMemoryDataPlane(t *testing.T) {
	coretest.DataPlaneSuite{
		New: func(t *testing.T, o coretest.DataPlaneOptions) core.DataPlane {
			d := &core.MemoryDataPlane{MaxLen: o.MaxLen, MaxAge: o.MaxAge}
			return d
		},
		Reset: func(t *testing.T, d core.DataPlane) { d.(*core.MemoryDataPlane).Reset() },
	}.Run(t)
}

func TestMemoryStatsBoard(t *testing.T) {
	coretest.TestStatsBoard(t, func(t *testing.T) (core.StatsBoard, core.StatsBoard) {
		b := core.NewMemoryStatsBoard()
		return b, b
	})
}
