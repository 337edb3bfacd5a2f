package main

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// system is one kind of server csbench measures: how to start it, how to
// talk to it and where its own counters are.
type system struct {
	name       string   // as given to --system
	label      string   // in tables and plots
	transports []string // those its adapter speaks
	start      func(ctx context.Context, sys *system, cfg ServerConfig) (*server, error)
	adapter    func(cfg AdapterConfig) (Adapter, error)
	health     string // path that answers 200 once the server is ready
	metrics    metricNames
}

// metricNames are the Prometheus series (at GET /metrics) that csbench
// reads from a server; an empty name is not read.
type metricNames struct {
	goroutines string
	conns      string   // client connections the server holds
	attached   string   // connections with a transport attached now
	slow       string   // disconnects of clients that did not keep up
	slowLabels []string // label="value" pairs the slow series must have
}

var systemChannelstream = &system{
	name:       "channelstream",
	label:      "channelstream-go",
	transports: channelstreamTransports,
	start:      startChannelstream,
	adapter:    func(cfg AdapterConfig) (Adapter, error) { return newChannelstream(cfg) },
	health:     "/healthz",
	metrics: metricNames{
		goroutines: "go_goroutines",
		conns:      "channelstream_connections",
		attached:   "channelstream_connections_attached",
		slow:       "channelstream_slow_consumer_disconnects_total",
	},
}

var systemCentrifugo = &system{
	name:       "centrifugo",
	label:      "centrifugo",
	transports: centrifugoTransports,
	start:      startCentrifugo,
	adapter:    func(cfg AdapterConfig) (Adapter, error) { return newCentrifugo(cfg) },
	health:     "/health",
	metrics: metricNames{
		goroutines: "go_goroutines",
		conns:      "centrifugo_client_connections_inflight",
		attached:   "centrifugo_client_connections_inflight",
		slow:       "centrifugo_client_num_server_disconnects",
		slowLabels: []string{`code="3008"`},
	},
}

// systems lists the known systems, in the order tables show them.
var systems = []*system{systemChannelstream, systemCentrifugo}

// systemNamed returns the system called name.
func systemNamed(name string) (*system, error) {
	for _, s := range systems {
		if s.name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("unknown system %q (known: channelstream, centrifugo)", name)
}

// findCentrifugo returns the Centrifugo binary to start: bin when given,
// else centrifugo on $PATH, else $GOBIN or $GOPATH/bin (where go install
// puts it). It returns errNoCentrifugo when there is none.
func findCentrifugo(bin string) (string, error) {
	if bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("--centrifugo-bin: %w", err)
		}
		return bin, nil
	}
	if p, err := exec.LookPath("centrifugo"); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		for d := range strings.SplitSeq(gp, string(os.PathListSeparator)) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	} else if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "centrifugo")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errNoCentrifugo
}

// binaryVersion returns the main module and version a Go binary was built
// from (go install records it even when the program reports 0.0.0).
func binaryVersion(bin string) string {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "unknown"
	}
	return bi.Main.Path + " " + bi.Main.Version + " (" + bi.GoVersion + ")"
}
