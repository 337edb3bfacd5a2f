package main

import (
	"runtime/debug"
	"testing"

	"github.com/channelstream-go/channelstream-go/httpapi"
)

func TestBuildFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{
		Main: debug.Module{Version: "v0.0.0-20261206120000-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     httpapi.Build
		shown    string
	}{
		{"no build information is dev", nil, "", httpapi.Build{Version: "dev"}, "dev"},
		{"a devel build without VCS is dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "",
			httpapi.Build{Version: "dev"}, "dev"},
		{"a stamped build shows its version, revision and modified", stamped, "",
			httpapi.Build{Version: "v0.0.0-20261206120000-0123456789ab+dirty", Revision: "0123456789abcdef0123456789abcdef01234567", Modified: true},
			"v0.0.0-20261206120000-0123456789ab+dirty (0123456789ab, modified)"},
		{"-ldflags main.version overrides the module version, not the revision", stamped, "v1.2.3",
			httpapi.Build{Version: "v1.2.3", Revision: "0123456789abcdef0123456789abcdef01234567", Modified: true},
			"v1.2.3 (0123456789ab, modified)"},
		{"a clean work tree is not modified", &debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}}, "",
			httpapi.Build{Version: "v1.0.0", Revision: "abc"}, "v1.0.0 (abc)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := buildFrom(tc.bi, tc.override)
			if got != tc.want || got.String() != tc.shown {
				t.Fatalf("buildFrom = %+v (%q), want %+v (%q)", got, got, tc.want, tc.shown)
			}
		})
	}
}
