// Command csbench measures channelstream-go and the servers users would
// pick instead, in one run: it starts each server (or measures a running
// one), holds thousands of subscribers over WebSocket, SSE or long-poll,
// publishes to them and reports what they cost and how fast messages reach
// them.
//
//	csbench suite    [flags]   the short default suite of every scenario, one table (make bench)
//	csbench idle     [flags]   hold --clients idle subscribers: server KiB RSS and µs CPU/s per connection
//	csbench fanout   [flags]   one channel, --clients subscribers, open-loop publishing at each --rate
//	csbench channels [flags]   personal and 10-member group channels, random publishes at each --rate
//	csbench churn    [flags]   --churn-rate connects/s beside --clients steady ones; connect times and leaks
//	csbench slow     [flags]   fanout at --rate, then again with --stall-pct % of subscribers not reading
//	csbench cluster  [flags]   one node, then 3 nodes on Redis (REST to A, subscribers on B, C idle): CPU and RSS of each process
//
// Systems (--system): channelstream (channelstream-go, or Python
// channelstream 0.7 with --server-pid) and centrifugo (Centrifugo v6,
// started from --centrifugo-bin with a generated configuration). Run it
// pinned apart from the servers on a small machine, e.g.
//
//	go build -o /tmp/cs ./cmd/channelstream && go build -o /tmp/csbench ./cmd/csbench
//	taskset -c 1 /tmp/csbench fanout --system channelstream,centrifugo --server-bin /tmp/cs --server-cpu 0 --rate 5,10,20 --repeat 3
//
// Every run is bounded in time; a server csbench started is stopped at the
// end (and killed if csbench dies).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// realMain runs csbench with args and returns the exit status: 0 when every
// run completed, 1 when one failed, 2 for a usage error.
func realMain(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "csbench: %v\nRun 'csbench -h' for usage.\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := opts.cfg
	var rs []Result
	if opts.suite {
		rs, err = runSuite(ctx, opts)
		versions := serverVersions(cfg, rs)
		if len(rs) > 0 {
			writeSummary(stdout, rs, versions, cfg.P99Limit)
			if opts.detail {
				fmt.Fprintln(stdout)
				writeTables(stdout, rs, cfg.P99Limit)
			}
		}
	} else {
		rs, err = run(ctx, cfg)
		if len(rs) > 0 {
			writeTables(stdout, rs, cfg.P99Limit)
		}
	}
	status := 0
	if opts.jsonPath != "" {
		if jerr := writeJSON(opts.jsonPath, rs, serverVersions(cfg, rs)); jerr != nil {
			fmt.Fprintf(stderr, "csbench: %v\n", jerr)
			status = 1
		}
	}
	if opts.plotPath != "" && len(rs) > 0 {
		if perr := writePlot(opts.plotPath, rs); perr != nil {
			fmt.Fprintf(stderr, "csbench: %v\n", perr)
			status = 1
		} else {
			cfg.logf("latency distributions drawn in %s", opts.plotPath)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "csbench: %v\n", err)
		return 1
	}
	return status
}

// serverVersions names what the binary of each system measured in rs was
// built from.
func serverVersions(cfg Config, rs []Result) map[string]string {
	v := map[string]string{}
	for _, s := range systems {
		if !slices.ContainsFunc(rs, func(r Result) bool { return r.System == s.name }) {
			continue
		}
		switch {
		case cfg.Server.PID > 0:
			v[s.label] = fmt.Sprintf("external, pid %d", cfg.Server.PID)
		case s == systemChannelstream:
			v[s.label] = binaryVersion(cfg.Server.Bin)
		case s == systemCentrifugo:
			if bin, err := findCentrifugo(cfg.Server.CentrifugoBin); err == nil {
				v[s.label] = binaryVersion(bin)
			}
		}
	}
	return v
}
