package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// options is a parsed command line.
type options struct {
	cfg      Config
	suite    bool
	detail   bool // suite: the per-scenario tables too
	jsonPath string
	plotPath string
	// explicit names the flags given on the command line: the suite
	// keeps them, and fills the others with its own defaults.
	explicit map[string]bool
	// suiteRates is the suite's fanout sweep over WebSocket (--rate);
	// SSE and long-poll get its first rate and one near the middle.
	suiteRates []float64
}

// sourceIPsPerConn: --source-ips 0 spreads sockets over one more source
// address per this many client sockets (each address has about 28 000
// ephemeral ports).
const sourceIPsPerConn = 20000

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{cfg: Config{Log: stderr}, explicit: map[string]bool{}}
	cfg := &o.cfg
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.Scenario, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("csbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var systemsFlag, transportsFlag, ratesFlag string
	var quiet bool
	var serverArgs listFlag
	fs.StringVar(&cfg.Scenario, "scenario", cfg.Scenario, "suite, idle, fanout, channels, churn, slow or cluster (or give it as the first argument)")
	fs.StringVar(&systemsFlag, "system", "channelstream", "servers to measure, comma separated: channelstream, centrifugo (suite: both, centrifugo when installed)")
	fs.StringVar(&systemsFlag, "adapter", "channelstream", "alias of --system")
	fs.StringVar(&transportsFlag, "transport", "ws", "subscriber transports, comma separated: ws, sse, longpoll (centrifugo: ws; suite: all)")
	fs.IntVar(&cfg.Clients, "clients", 10000, "subscribers (churn: steady clients, default 1000) (alias -n)")
	fs.IntVar(&cfg.Clients, "n", 10000, "subscribers")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "idle: measured hold; fanout, channels: each rate; slow: each step (default 40s); churn: the churning (suite: 3s)")
	fs.StringVar(&ratesFlag, "rate", "", "publishes per second, comma separated for a sweep (default fanout 1, channels 500, slow 2, cluster 1000; suite fanout 1,5,10,20)")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "publishing before each rate's measurement (checked for loss, not timed) (suite: 500ms)")
	fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "longest wait for late deliveries after each rate")
	fs.DurationVar(&cfg.Pause, "pause", 2*time.Second, "quiet time between rates (suite: 500ms)")
	fs.DurationVar(&cfg.IdleDuration, "idle-duration", 0, "idle cost measured with a fanout (the suite): the hold (0: --duration; suite: 10s)")
	fs.DurationVar(&cfg.Settle, "settle", 3*time.Second, "idle: wait between connecting and measuring; churn: before the churn; cluster: before reading RSS after connecting (churn: 1s; suite: 2s, churn 1s)")
	fs.BoolVar(&cfg.SweepStop, "sweep-stop", true, "fanout: skip higher rates once p99 passed 4 × --p99-limit")
	fs.IntVar(&cfg.Repeat, "repeat", 1, "runs of each measurement, each against a fresh server, systems interleaved; medians are reported")
	fs.IntVar(&cfg.Concurrency, "concurrency", 200, "subscribers connecting at once")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 5*time.Minute, "longest time to connect every subscriber")
	fs.IntVar(&cfg.PubInflight, "pub-inflight", 64, "most publishes in flight")
	fs.StringVar(&cfg.Channel, "channel", "bench", "channel name (fanout, slow, churn)")
	fs.IntVar(&cfg.PayloadBytes, "payload-bytes", 0, "padding added to every published message")
	fs.IntVar(&cfg.GroupSize, "group-size", 10, "channels: members of each group channel")
	fs.Float64Var(&cfg.ClusterFanoutRate, "cluster-fanout-rate", 10, "cluster: msgs/s of the one-channel shape (the personal-channel shape publishes at --rate); 0 skips that shape")
	fs.BoolVar(&cfg.RedisCluster, "redis-cluster", false, "cluster: the nodes share a local Redis Cluster of three masters instead of one redis-server (needs redis-cli)")
	fs.Float64Var(&cfg.ChurnRate, "churn-rate", 200, "churn: new connections per second")
	fs.DurationVar(&cfg.Lifetime, "lifetime", time.Second, "churn: how long each churning client stays")
	fs.DurationVar(&cfg.LeakWait, "leak-wait", 30*time.Second, "churn: longest wait for the server to come back to its connections and files of before")
	fs.Float64Var(&cfg.StallPct, "stall-pct", 1, "slow: percentage of subscribers that stop reading")
	fs.IntVar(&cfg.SourceIPs, "source-ips", 0, "spread client sockets over 127.0.0.1 … 127.0.0.N (0: one address per 20 000 sockets, plus one)")
	fs.DurationVar(&cfg.P99Limit, "p99-limit", 300*time.Millisecond, "fanout: p99 bound of the 'highest delivered rate' line")
	fs.StringVar(&cfg.Server.Bin, "server-bin", "bin/channelstream", "channelstream binary to start (unless --server-pid)")
	fs.StringVar(&cfg.Server.CentrifugoBin, "centrifugo-bin", "", "Centrifugo v6 binary (default: centrifugo on $PATH, else $GOBIN or $GOPATH/bin)")
	fs.StringVar(&cfg.Server.CPU, "server-cpu", "0", "taskset -c list for the started servers; empty: not pinned")
	fs.Var(&serverArgs, "server-arg", "extra flag for a started channelstream, repeatable (--server-arg=--longpoll_gather=0)")
	fs.IntVar(&cfg.Server.PID, "server-pid", 0, "measure this running server (of the one --system) instead of starting one (needs --url)")
	fs.StringVar(&cfg.Server.URL, "url", "http://127.0.0.1:8000", "base URL of the server given by --server-pid")
	fs.StringVar(&cfg.Server.Secret, "secret", "", "API secret, or Centrifugo's token HMAC key (default: random for a started server, \"secret\" for --server-pid)")
	fs.StringVar(&cfg.Server.APIKey, "api-key", "", "Centrifugo HTTP API key (default: random for a started server)")
	fs.DurationVar(&cfg.QuietWait, "quiet-wait", 0, "before each run, wait up to this long for the machine to be idle (shared machines)")
	fs.Float64Var(&cfg.MaxNoise, "max-noise", 0, "discard and redo a run during which other processes used more than this % of a CPU (0: keep every run)")
	fs.IntVar(&cfg.Retries, "retries", 3, "with --max-noise: most re-runs of one noisy run")
	fs.StringVar(&o.jsonPath, "json", "", "also write the raw results to this JSON file")
	fs.StringVar(&o.plotPath, "plot", "", "draw the latency distributions in this .png or .svg file")
	fs.BoolVar(&o.detail, "detail", false, "suite: print every scenario's table after the summary")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: csbench suite|idle|fanout|channels|churn|slow|cluster [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { o.explicit[f.Name] = true })
	if o.explicit["n"] {
		o.explicit["clients"] = true
	}
	if o.explicit["adapter"] {
		o.explicit["system"] = true
	}
	if quiet {
		cfg.Log = nil
	}
	cfg.Server.Args = serverArgs
	switch cfg.Scenario {
	case "suite":
		o.suite = true
	case "idle", "fanout", "channels", "churn", "slow":
	case "cluster":
		if systemsFlag != systemChannelstream.name || cfg.Server.PID > 0 {
			return o, errors.New("cluster: measures channelstream-go nodes it starts (--system channelstream, no --server-pid)")
		}
		if cfg.ClusterFanoutRate < 0 || cfg.ClusterFanoutRate > 1e6 {
			return o, errors.New("--cluster-fanout-rate must be within [0, 1000000]")
		}
	case "":
		return o, errors.New("name a scenario: suite, idle, fanout, channels, churn, slow or cluster")
	default:
		return o, fmt.Errorf("unknown scenario %q (known: suite, %s)", cfg.Scenario, strings.Join(scenarios, ", "))
	}
	if cfg.RedisCluster && cfg.Scenario != "cluster" {
		return o, errors.New("--redis-cluster applies to the cluster scenario only")
	}
	if err := o.applyDefaults(ratesFlag); err != nil {
		return o, err
	}
	for name := range strings.SplitSeq(systemsFlag, ",") {
		sys, err := systemNamed(strings.TrimSpace(name))
		if err != nil {
			return o, err
		}
		cfg.Systems = append(cfg.Systems, sys)
	}
	for t := range strings.SplitSeq(transportsFlag, ",") {
		if err := checkTransport(strings.TrimSpace(t), transports); err != nil {
			return o, err
		}
		cfg.Transports = append(cfg.Transports, strings.TrimSpace(t))
	}
	if err := validate(cfg); err != nil {
		return o, err
	}
	if cfg.Server.PID > 0 {
		if len(cfg.Systems) != 1 || o.suite {
			return o, errors.New("--server-pid measures one server: name its one --system (and no suite)")
		}
		cfg.Server.Bin = ""
		if cfg.Server.Secret == "" {
			cfg.Server.Secret = "secret"
		}
	} else {
		if cfg.Server.Secret == "" {
			cfg.Server.Secret = randomHex()
		}
		if cfg.Server.APIKey == "" {
			cfg.Server.APIKey = randomHex()
		}
	}
	if cfg.SourceIPs == 0 {
		cfg.SourceIPs = min(1+(cfg.Clients+churnPeak(*cfg))/sourceIPsPerConn, 254)
	}
	return o, nil
}

// applyDefaults fills the defaults that depend on the scenario and parses
// the rates.
func (o *options) applyDefaults(ratesFlag string) error {
	cfg := &o.cfg
	set := func(name string, f func()) {
		if !o.explicit[name] {
			f()
		}
	}
	rates := map[string]string{"fanout": "1", "channels": "500", "slow": "2", "suite": "1,5,10,20", "idle": "1", "churn": "1", "cluster": "1000"}[cfg.Scenario]
	if ratesFlag != "" {
		rates = ratesFlag
	}
	rs, err := parseRates(rates)
	if err != nil {
		return err
	}
	cfg.Rates, o.suiteRates = rs, rs
	switch cfg.Scenario {
	case "churn":
		set("clients", func() { cfg.Clients = 1000 })
		set("settle", func() { cfg.Settle = time.Second })
	case "slow":
		set("duration", func() { cfg.Duration = 40 * time.Second })
	case "cluster":
		set("clients", func() { cfg.Clients = 4000 })
	case "suite":
		set("duration", func() { cfg.Duration = 3 * time.Second })
		set("warmup", func() { cfg.Warmup = 500 * time.Millisecond })
		set("pause", func() { cfg.Pause = 500 * time.Millisecond })
		set("settle", func() { cfg.Settle = 2 * time.Second })
		set("idle-duration", func() { cfg.IdleDuration = suiteIdleDuration })
	}
	return nil
}

// parseRates parses a comma separated list of publishes per second.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 || r > 1e6 {
			return nil, fmt.Errorf("--rate: %q is not a positive number of messages per second", f)
		}
		out = append(out, r)
	}
	return out, nil
}

// validate checks the ranges of cfg.
func validate(cfg *Config) error {
	switch {
	case cfg.Clients < 1:
		return errors.New("--clients must be at least 1")
	case cfg.Duration <= 0 || cfg.Duration > 24*time.Hour:
		return errors.New("--duration must be positive and at most 24h")
	case cfg.Retries < 0 || cfg.Retries > 100 || cfg.MaxNoise < 0:
		return errors.New("--retries must be within 0..100 and --max-noise not negative")
	case cfg.Repeat < 1 || cfg.Repeat > 100:
		return errors.New("--repeat must be within 1..100")
	case cfg.Concurrency < 1 || cfg.PubInflight < 1:
		return errors.New("--concurrency and --pub-inflight must be at least 1")
	case cfg.SourceIPs < 0 || cfg.SourceIPs > 254:
		return errors.New("--source-ips must be within 0..254")
	case cfg.Warmup < 0 || cfg.Drain < 0 || cfg.Pause < 0 || cfg.Settle < 0 || cfg.QuietWait < 0 || cfg.LeakWait < 0:
		return errors.New("durations must not be negative")
	case cfg.PayloadBytes < 0 || cfg.PayloadBytes > 1<<20:
		return errors.New("--payload-bytes must be within 0..1048576")
	case cfg.GroupSize < 1:
		return errors.New("--group-size must be at least 1")
	case cfg.ChurnRate <= 0 || cfg.ChurnRate > 1e5 || cfg.Lifetime < 0:
		return errors.New("--churn-rate must be within (0, 100000] and --lifetime not negative")
	case cfg.StallPct <= 0 || cfg.StallPct > 100:
		return errors.New("--stall-pct must be within (0, 100]")
	}
	return nil
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
