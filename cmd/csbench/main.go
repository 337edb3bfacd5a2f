// Command csbench is channelstream-go's load generator: it starts the
// server (or measures a running one), holds thousands of subscribers over
// WebSocket, SSE or long-poll, and reports what they cost and how fast
// messages reach them.
//
//	csbench idle   [flags]   hold --clients idle subscribers: server KiB RSS and µs CPU/s per connection
//	csbench fanout [flags]   one channel, --clients subscribers, open-loop publishing at each --rate
//
// Run it pinned apart from the server on a small machine, e.g.
//
//	go build -o /tmp/cs ./cmd/channelstream && go build -o /tmp/csbench ./cmd/csbench
//	taskset -c 1 /tmp/csbench fanout --server-bin /tmp/cs --server-cpu 0 --transport ws,sse,longpoll --rate 5,10,20 --repeat 3
//
// Every run is bounded in time; a server csbench started is stopped at the
// end (and killed if csbench dies).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// realMain runs csbench with args and returns the exit status: 0 when every
// run completed, 1 when one failed, 2 for a usage error.
func realMain(args []string, stdout, stderr io.Writer) int {
	cfg, jsonPath, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "csbench: %v\nRun 'csbench -h' for usage.\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rs, err := run(ctx, cfg)
	if len(rs) > 0 {
		writeTable(stdout, cfg.Scenario, rs, cfg.P99Limit)
	}
	if jsonPath != "" {
		if jerr := writeJSON(jsonPath, rs); jerr != nil {
			fmt.Fprintf(stderr, "csbench: %v\n", jerr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "csbench: %v\n", err)
		return 1
	}
	return 0
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string, stderr io.Writer) (Config, string, error) {
	cfg := Config{Log: stderr}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.Scenario, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("csbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var transportsFlag, ratesFlag, jsonPath string
	var quiet bool
	var serverArgs listFlag
	fs.StringVar(&cfg.Scenario, "scenario", cfg.Scenario, "idle or fanout (or give it as the first argument)")
	fs.StringVar(&cfg.Adapter, "adapter", "channelstream", "server kind: channelstream")
	fs.StringVar(&transportsFlag, "transport", "ws", "subscriber transports, comma separated: ws, sse, longpoll")
	fs.IntVar(&cfg.Clients, "clients", 10000, "subscribers (alias -n)")
	fs.IntVar(&cfg.Clients, "n", 10000, "subscribers")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "idle: measured hold; fanout: measured publishing of each rate")
	fs.StringVar(&ratesFlag, "rate", "1", "fanout: publishes per second, comma separated for a sweep (5,10,20)")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "fanout: publishing before each rate's measurement (checked for loss, not timed)")
	fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "fanout: longest wait for late deliveries after each rate")
	fs.DurationVar(&cfg.Pause, "pause", 2*time.Second, "fanout: quiet time between rates")
	fs.DurationVar(&cfg.Settle, "settle", 3*time.Second, "idle: wait between connecting and measuring")
	fs.IntVar(&cfg.Repeat, "repeat", 1, "runs of each transport, each against a fresh server; medians are reported")
	fs.IntVar(&cfg.Concurrency, "concurrency", 200, "subscribers connecting at once")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 5*time.Minute, "longest time to connect every subscriber")
	fs.IntVar(&cfg.PubInflight, "pub-inflight", 64, "fanout: most publishes in flight")
	fs.StringVar(&cfg.Channel, "channel", "bench", "channel name")
	fs.IntVar(&cfg.SourceIPs, "source-ips", 1, "spread client sockets over 127.0.0.1 … 127.0.0.N (beyond 64k ports)")
	fs.DurationVar(&cfg.P99Limit, "p99-limit", 300*time.Millisecond, "fanout: p99 bound of the 'highest delivered rate' line")
	fs.StringVar(&cfg.Server.Bin, "server-bin", "bin/channelstream", "channelstream binary to start (unless --server-pid)")
	fs.StringVar(&cfg.Server.CPU, "server-cpu", "0", "taskset -c list for the started server; empty: not pinned")
	fs.Var(&serverArgs, "server-arg", "extra flag for the started server, repeatable (--server-arg=--longpoll_gather=0)")
	fs.IntVar(&cfg.Server.PID, "server-pid", 0, "measure this running server instead of starting one (needs --url)")
	fs.StringVar(&cfg.Server.URL, "url", "http://127.0.0.1:8000", "base URL of the server given by --server-pid")
	fs.StringVar(&cfg.Server.Secret, "secret", "", "API secret (default: random for a started server, \"secret\" for --server-pid)")
	fs.DurationVar(&cfg.QuietWait, "quiet-wait", 0, "before each run, wait up to this long for the machine to be idle (shared machines)")
	fs.Float64Var(&cfg.MaxNoise, "max-noise", 0, "discard and redo a run during which other processes used more than this % of a CPU (0: keep every run)")
	fs.IntVar(&cfg.Retries, "retries", 3, "with --max-noise: most re-runs of one noisy run")
	fs.StringVar(&jsonPath, "json", "", "also write the results to this JSON file")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: csbench idle|fanout [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if quiet {
		cfg.Log = nil
	}
	cfg.Server.Args = serverArgs
	switch cfg.Scenario {
	case "idle", "fanout":
	case "":
		return cfg, "", errors.New("name a scenario: idle or fanout")
	default:
		return cfg, "", fmt.Errorf("unknown scenario %q (known: idle, fanout)", cfg.Scenario)
	}
	for t := range strings.SplitSeq(transportsFlag, ",") {
		if t = strings.TrimSpace(t); !slices.Contains(transports, t) {
			return cfg, "", fmt.Errorf("unknown transport %q (known: %s)", t, strings.Join(transports, ", "))
		}
		cfg.Transports = append(cfg.Transports, t)
	}
	for s := range strings.SplitSeq(ratesFlag, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || r <= 0 || r > 1e6 {
			return cfg, "", fmt.Errorf("--rate: %q is not a positive number of messages per second", s)
		}
		cfg.Rates = append(cfg.Rates, r)
	}
	switch {
	case cfg.Clients < 1:
		return cfg, "", errors.New("--clients must be at least 1")
	case cfg.Duration <= 0 || cfg.Duration > 24*time.Hour:
		return cfg, "", errors.New("--duration must be positive and at most 24h")
	case cfg.Retries < 0 || cfg.Retries > 100 || cfg.MaxNoise < 0:
		return cfg, "", errors.New("--retries must be within 0..100 and --max-noise not negative")
	case cfg.Repeat < 1 || cfg.Repeat > 100:
		return cfg, "", errors.New("--repeat must be within 1..100")
	case cfg.Concurrency < 1 || cfg.PubInflight < 1:
		return cfg, "", errors.New("--concurrency and --pub-inflight must be at least 1")
	case cfg.SourceIPs < 1 || cfg.SourceIPs > 254:
		return cfg, "", errors.New("--source-ips must be within 1..254")
	case cfg.Warmup < 0 || cfg.Drain < 0 || cfg.Pause < 0 || cfg.Settle < 0 || cfg.QuietWait < 0:
		return cfg, "", errors.New("durations must not be negative")
	}
	if cfg.Server.PID > 0 {
		cfg.Server.Bin = ""
		if cfg.Server.Secret == "" {
			cfg.Server.Secret = "secret"
		}
	} else if cfg.Server.Secret == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		cfg.Server.Secret = hex.EncodeToString(b)
	}
	return cfg, jsonPath, nil
}
