package main

import (
	"runtime/debug"

	"github.com/channelstream-go/channelstream-go/httpapi"
)

// version is the release, set with -ldflags "-X main.version=v1.2.3"; when
// empty it comes from the module's build information.
var version string

// readBuild is the one place the binary learns its own version: -v, the
// start-up log line, admin.json, the channelstream_build_info gauge and
// /openapi.json's info.version all show what it returns.
func readBuild() httpapi.Build {
	bi, _ := debug.ReadBuildInfo()
	return buildFrom(bi, version)
}

// buildFrom reads bi (nil when the binary has no build information): the
// main module's version unless it is "(devel)" or override is set, and the
// VCS settings vcs.revision and vcs.modified that "go build" stamps inside
// a work tree (-buildvcs).
func buildFrom(bi *debug.BuildInfo, override string) httpapi.Build {
	var b httpapi.Build
	if bi != nil {
		if v := bi.Main.Version; v != "(devel)" {
			b.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if override != "" {
		b.Version = override
	}
	return b.WithDefaults()
}
