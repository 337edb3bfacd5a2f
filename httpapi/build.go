package httpapi

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Build identifies the running binary. admin.json shows its String,
// /openapi.json its Version as info.version, and GET /metrics serves it as
// the gauge channelstream_build_info{version, revision, modified} 1.
type Build struct {
	// Version is the module version ("v1.2.3" or a Go pseudo-version).
	// Default "dev".
	Version string
	// Revision is the VCS commit the binary was built from. Default "":
	// unknown (built outside a work tree, or with -buildvcs=false).
	Revision string
	// Modified reports that the work tree had uncommitted changes when the
	// binary was built. Default false.
	Modified bool
}

// WithDefaults returns b with Version "dev" when empty.
func (b Build) WithDefaults() Build {
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

// String is the version, then the revision when known, shortened to 12
// characters as "git log" would, and "modified": "v1.2.3 (7c48357a1b2c,
// modified)".
func (b Build) String() string {
	b = b.WithDefaults()
	if b.Revision == "" {
		return b.Version
	}
	rev := b.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if b.Modified {
		return fmt.Sprintf("%s (%s, modified)", b.Version, rev)
	}
	return fmt.Sprintf("%s (%s)", b.Version, rev)
}

// buildInfoGauge is channelstream_build_info: always 1, the build in its
// labels (Prometheus's own *_build_info convention).
func buildInfoGauge(b Build) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "channelstream_build_info",
		Help: "Always 1; the labels name the running build: module version, VCS revision (empty when unknown) and whether the work tree was modified.",
		ConstLabels: prometheus.Labels{
			"version":  b.Version,
			"revision": b.Revision,
			"modified": fmt.Sprint(b.Modified),
		},
	})
	g.Set(1)
	return g
}
