package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// e2eServerArgs make the started channelstream quick to notice a stalled
// socket (pong wait = 3 × heartbeat) and to collect closed connections,
// so that the slow and churn scenarios finish in seconds (a poll must end
// before its connection counts as inactive).
var e2eServerArgs = []string{"--heartbeat_interval=500ms", "--conn_timeout=2s", "--longpoll_timeout=1s"}

// built is the server binary the end-to-end tests share, built once.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// TestMain removes the shared server binary, after checking that no test
// left one of its servers running.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.bin != "" {
		if pids := processesOf(built.bin); len(pids) > 0 {
			fmt.Fprintf(os.Stderr, "servers left running: pids %v\n", pids)
			code = 1
		}
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildServer builds cmd/channelstream once into a temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "csbench-e2e-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "channelstream")
		cmd := exec.Command("go", "build", "-o", built.bin, "github.com/channelstream-go/channelstream-go/cmd/channelstream")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("build the server: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// e2eConfig is a small, quick run against bin.
func e2eConfig(scenario, transport, bin string) Config {
	return Config{
		Scenario: scenario, Systems: []*system{systemChannelstream}, Transports: []string{transport},
		Clients: 40, Duration: 2 * time.Second, Rates: []float64{3},
		Warmup: 500 * time.Millisecond, Drain: 8 * time.Second, Settle: 300 * time.Millisecond, Pause: 200 * time.Millisecond,
		Repeat: 1, Concurrency: 16, ConnectTimeout: 30 * time.Second, PubInflight: 8,
		Channel: "bench", GroupSize: 10, ChurnRate: 40, Lifetime: 300 * time.Millisecond, LeakWait: 10 * time.Second,
		StallPct: 10, SourceIPs: 2, P99Limit: 300 * time.Millisecond,
		Server: ServerConfig{Bin: bin, Secret: "e2e-secret", APIKey: "e2e-key", Args: e2eServerArgs},
	}
}

// processesOf returns the pids whose executable is bin.
func processesOf(bin string) []string {
	var pids []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe")); err == nil && exe == bin {
			pids = append(pids, d.Name())
		}
	}
	return pids
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real server")
	}
	t.Parallel()
	bin := buildServer(t)
	for _, tr := range transports {
		t.Run(tr+"/idle then fanout delivers everything once", func(t *testing.T) {
			t.Parallel()
			cfg := e2eConfig("fanout", tr, bin)
			cfg.IdleFirst = true
			rs, err := run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 2 || rs[0].Scenario != "idle" {
				t.Fatalf("got %d results (%v), want idle then fanout", len(rs), rs)
			}
			checkIdle(t, rs[0])
			checkFanout(t, rs[1], 40, 6)
		})
	}
	t.Run("ws/channels reach exactly their members", func(t *testing.T) {
		t.Parallel()
		cfg := e2eConfig("channels", "ws", bin)
		cfg.Rates = []float64{40}
		rs, err := run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := rs[0]
		checkDelivery(t, r)
		if r.Channels != 44 || r.Messages != 80 || r.Deliveries < 80 {
			t.Errorf("%d channels, %d messages, %d deliveries: want 44 channels, 80 messages, each to 1 or 10 members", r.Channels, r.Messages, r.Deliveries)
		}
	})
	t.Run("ws/churn connects, disconnects and leaves nothing behind", func(t *testing.T) {
		t.Parallel()
		rs, err := run(context.Background(), e2eConfig("churn", "ws", bin))
		if err != nil {
			t.Fatal(err)
		}
		checkChurn(t, rs[0], 80)
	})
	t.Run("ws/slow consumers are cut off, healthy ones served", func(t *testing.T) {
		t.Parallel()
		cfg := e2eConfig("slow", "ws", bin)
		cfg.Duration = 3 * time.Second
		rs, err := run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkSlow(t, rs)
	})
}

func checkIdle(t *testing.T, r Result) {
	t.Helper()
	if r.RSSBeforeKiB <= 0 || r.RSSAfterKiB <= 0 || r.KiBPerConn <= 0 {
		t.Errorf("RSS before %d KiB, after %d KiB, %.2f KiB/conn: want positive", r.RSSBeforeKiB, r.RSSAfterKiB, r.KiBPerConn)
	}
	if r.WindowSeconds < 1.9 || r.CPUMicrosPerSecConn < 0 {
		t.Errorf("window %.2fs, %.2f µs/s/conn", r.WindowSeconds, r.CPUMicrosPerSecConn)
	}
}

func checkDelivery(t *testing.T, r Result) {
	t.Helper()
	if r.Lost != 0 || r.Duplicated != 0 || r.Unexpected != 0 || r.PublishErrors != 0 || r.Dropped != 0 {
		t.Errorf("%s %s: lost %d, duplicated %d, unexpected %d, publish errors %d, dropped %d: want none",
			r.System, r.Scenario, r.Lost, r.Duplicated, r.Unexpected, r.PublishErrors, r.Dropped)
	}
	if r.P50ms <= 0 || r.P99ms < r.P50ms || r.Maxms < r.P99ms || r.Maxms > 5000 {
		t.Errorf("latency p50 %.3f p99 %.3f max %.3f ms: want 0 < p50 ≤ p99 ≤ max < 5 s", r.P50ms, r.P99ms, r.Maxms)
	}
	if r.DeliveredPerSec <= 0 || r.DeliveredPerSec > 1.05*r.OfferedPerSec {
		t.Errorf("delivered %.0f/s for %.0f/s offered", r.DeliveredPerSec, r.OfferedPerSec)
	}
	if len(r.Latency) != len(latencyQuantiles) {
		t.Errorf("%d latency points, want %d", len(r.Latency), len(latencyQuantiles))
	}
}

func checkFanout(t *testing.T, r Result, clients, messages int64) {
	t.Helper()
	checkDelivery(t, r)
	if r.Messages != messages || r.Deliveries != clients*messages {
		t.Errorf("%d messages, %d deliveries, want %d and %d", r.Messages, r.Deliveries, messages, clients*messages)
	}
}

func checkChurn(t *testing.T, r Result, connects int64) {
	t.Helper()
	if r.Connects != connects || r.ConnectFailures != 0 || r.NotStarted != 0 || r.Disconnects != connects {
		t.Errorf("%s: %d connects, %d failed, %d not started, %d disconnects: want %d, 0, 0, %d",
			r.System, r.Connects, r.ConnectFailures, r.NotStarted, r.Disconnects, connects, connects)
	}
	if r.ConnP50ms <= 0 || r.ConnP99ms < r.ConnP50ms || r.ConnectsPerSec <= 0 || r.DisconnectsPerSec <= 0 {
		t.Errorf("%s: connect p50 %.2f p99 %.2f ms, %.0f connects/s, %.0f disconnects/s", r.System, r.ConnP50ms, r.ConnP99ms, r.ConnectsPerSec, r.DisconnectsPerSec)
	}
	if r.LeakUnsettled != 0 || r.ConnsAfter != r.ConnsBefore || r.GoroutinesBefore <= 0 || r.FDsBefore <= 0 {
		t.Errorf("%s: unsettled %d; server conns %d→%d, goroutines %d→%d, fds %d→%d: want back to before",
			r.System, r.LeakUnsettled, r.ConnsBefore, r.ConnsAfter, r.GoroutinesBefore, r.GoroutinesAfter, r.FDsBefore, r.FDsAfter)
	}
}

func checkSlow(t *testing.T, rs []Result) {
	t.Helper()
	if len(rs) != 2 || rs[0].Stalled != 0 || rs[1].Stalled != 4 {
		t.Fatalf("got %d results, stalled %v: want a healthy step, then one with 4 of 40 stalled", len(rs), rs)
	}
	for _, r := range rs {
		checkDelivery(t, r)
		if r.RSSMaxKiB < r.RSSStartKiB || r.RSSStartKiB <= 0 {
			t.Errorf("RSS start %d, max %d KiB", r.RSSStartKiB, r.RSSMaxKiB)
		}
	}
	if r := rs[1]; r.StalledDisconnected != 4 || r.StallDisconnectSeconds <= 0 {
		t.Errorf("%d of 4 stalled subscribers cut off (server: after %.1fs): want all", r.StalledDisconnected, r.StallDisconnectSeconds)
	}
}

// TestSuiteAgainstEverySystem runs the suite, small, with its one table,
// JSON and chart: against channelstream-go, and Centrifugo too when it is
// installed.
func TestSuiteAgainstEverySystem(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real servers")
	}
	t.Parallel()
	bin := buildServer(t)
	dir := t.TempDir()
	jsonPath, plotPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.png")
	args := []string{"suite", "--server-bin", bin, "--server-cpu", "", "-n", "30", "--transport", "ws", "--duration", "500ms",
		"--rate", "2", "--warmup", "0s", "--settle", "200ms", "--pause", "100ms", "--churn-rate", "30", "--lifetime", "100ms",
		"--leak-wait", "10s", "--json", jsonPath, "--plot", plotPath, "--detail"}
	for _, a := range e2eServerArgs {
		args = append(args, "--server-arg="+a)
	}
	cf, cfErr := findCentrifugo("")
	if cfErr != nil {
		t.Logf("%v: channelstream-go only", cfErr)
		args = append(args, "--system", "channelstream")
	}
	var out, errOut bytes.Buffer
	if code := realMain(args, &out, &errOut); code != 0 {
		t.Fatalf("csbench %v exited %d\nstdout:\n%s\nstderr:\n%s", args, code, &out, &errOut)
	}
	t.Logf("\n%s", &out)
	for _, want := range []string{"idle, 30 conns: server RSS KiB/conn", "fanout 2 msg/s to 30: p99 ms", "fanout: highest delivered/s",
		"channels 500 msg/s", "churn 30/s beside 30: connect p99 ms", "churn leak: goroutines", "== churn"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	var doc struct {
		Versions map[string]string `json:"versions"`
		Results  []Result          `json:"results"`
	}
	b, err := os.ReadFile(jsonPath)
	if err == nil {
		err = json.Unmarshal(b, &doc)
	}
	if err != nil {
		t.Fatalf("--json: %v", err)
	}
	systemsSeen := map[string]bool{}
	for _, r := range doc.Results {
		systemsSeen[r.System] = true
		switch r.Scenario {
		case "fanout", "channels":
			checkDelivery(t, r)
		case "churn":
			checkChurn(t, r, 15)
		}
	}
	if !systemsSeen["channelstream"] || (cfErr == nil && !systemsSeen["centrifugo"]) {
		t.Errorf("systems measured: %v (centrifugo at %q)", systemsSeen, cf)
	}
	if cfErr == nil && (!strings.Contains(out.String(), "cs-go÷cf ws") || !strings.Contains(doc.Versions["centrifugo"], "centrifugo")) {
		t.Errorf("no ratio column or Centrifugo version (%v)", doc.Versions)
	}
	png, err := os.ReadFile(plotPath)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("--plot wrote no PNG: %v", err)
	}
}

// TestCentrifugoSlowConsumer stalls a Centrifugo subscriber: Centrifugo
// cuts it off after its ping interval and pong timeout (25 s + 8 s), too
// long for make test, so it runs only with CSBENCH_SLOW=1.
func TestCentrifugoSlowConsumer(t *testing.T) {
	if os.Getenv("CSBENCH_SLOW") == "" {
		t.Skip("set CSBENCH_SLOW=1: takes about 85 s")
	}
	if _, err := findCentrifugo(""); err != nil {
		t.Skip(err)
	}
	cfg := e2eConfig("slow", "ws", "")
	cfg.Systems = []*system{systemCentrifugo}
	cfg.Duration = 40 * time.Second
	rs, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSlow(t, rs)
}

func TestExternalServerByPID(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real server")
	}
	t.Parallel()
	bin := buildServer(t)
	srv, err := startChannelstream(context.Background(), systemChannelstream, ServerConfig{Bin: bin, Secret: "ext"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	cfg := e2eConfig("fanout", "ws", "")
	cfg.Server = ServerConfig{PID: srv.pid, URL: srv.base, Secret: "ext"}
	cfg.Clients, cfg.Duration, cfg.Warmup = 20, time.Second, 0
	rs, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkFanout(t, rs[0], 20, 3)
	if !srv.alive() {
		t.Error("csbench stopped a server it did not start")
	}
}

func TestFileLimitIsReportedClearly(t *testing.T) {
	err := raiseFileLimit(1 << 30)
	if !errors.Is(err, errFileLimit) || !strings.Contains(err.Error(), "RLIMIT_NOFILE") || !strings.Contains(err.Error(), fmt.Sprint(fileLimit())) {
		t.Errorf("raiseFileLimit(2³⁰) = %v, want errFileLimit naming RLIMIT_NOFILE and the limit", err)
	}
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
	err = classifyDialErr(fmt.Errorf("GET /ws: %w", dialErr))
	if !errors.Is(err, errFileLimit) || !errors.Is(err, syscall.EMFILE) {
		t.Errorf("classifyDialErr(EMFILE) = %v, want errFileLimit wrapping EMFILE", err)
	}
	if again := classifyDialErr(err); again.Error() != err.Error() {
		t.Errorf("classifying twice changed the message: %q", again)
	}
	if err := classifyDialErr(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EADDRNOTAVAIL)}); !errors.Is(err, errPortsExhausted) {
		t.Errorf("classifyDialErr(EADDRNOTAVAIL) = %v, want errPortsExhausted", err)
	}
}

func TestUsageErrorsExitWithTwo(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nosuch"},
		{"fanout", "--transport", "carrier-pigeon"},
		{"fanout", "--system", "nats"},
		{"fanout", "--rate", "0"},
		{"idle", "-n", "0"},
		{"slow", "--stall-pct", "0"},
		{"suite", "--server-pid", "1"},
		{"fanout", "--redis-cluster"},
	} {
		var out, errOut strings.Builder
		if code := realMain(args, &out, &errOut); code != 2 {
			t.Errorf("csbench %v exited %d, want 2 (stderr %q)", args, code, errOut.String())
		}
	}
}

// TestClusterThroughRedis runs the cluster scenario tiny against the real
// binary: one node, then three nodes sharing a redis-server csbench
// starts, REST calls on node A, subscribers on node B, node C idle, for
// both shapes, with the figures of every process.
func TestClusterThroughRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real server")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not on $PATH (Debian: apt-get install redis-server): cluster scenario not tested")
	}
	cfg := e2eConfig("cluster", "ws", buildServer(t))
	cfg.Clients, cfg.Rates, cfg.ClusterFanoutRate = 50, []float64{20}, 5
	cfg.Duration, cfg.Warmup = time.Second, 300*time.Millisecond
	rs, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkClusterResults(t, rs, 50, 20, 5)
	var out bytes.Buffer
	writeTables(&out, rs, cfg.P99Limit)
	for s, n := range map[string]int{"3 nodes through Redis add": 2, "node C CPU, % of a core": 2,
		"node C RSS growth, KiB per cluster connection": 2, "CPU per message, all nodes and Redis ÷ one node": 1, "one redis-server": 1} {
		if got := strings.Count(out.String(), s); got != n {
			t.Errorf("%q appears %d times, want %d:\n%s", s, got, n, out.String())
		}
	}
}

// checkClusterResults checks the four results of a cluster run of n
// subscribers at rate (personal) and fanRate (fanout) msgs/s over 1 s.
func checkClusterResults(t *testing.T, rs []Result, n, rate, fanRate int64) {
	t.Helper()
	if len(rs) != 4 {
		t.Fatalf("%d results, want 4 (2 shapes × 1 and 3 nodes): %+v", len(rs), rs)
	}
	for _, r := range rs {
		if r.Scenario != "cluster" || (r.Nodes != 1 && r.Nodes != 3) || (r.Shape != "personal" && r.Shape != "fanout") {
			t.Errorf("result not marked: scenario %q shape %q nodes %d", r.Scenario, r.Shape, r.Nodes)
		}
		checkDelivery(t, r)
		want := rate // personal: one delivery per message
		if r.Shape == "fanout" {
			want = fanRate * n
		}
		if r.Deliveries != want {
			t.Errorf("%s on %d node(s): %d deliveries, want %d", r.Shape, r.Nodes, r.Deliveries, want)
		}
		var names []string
		for _, p := range r.Procs {
			names = append(names, p.Name)
			if p.RSSBeforeKiB <= 0 || p.RSSConnectedKiB <= 0 || p.RSSEndKiB <= 0 || p.CPUPct < 0 || p.CPUMicrosPerMsg < 0 {
				t.Errorf("%s on %d node(s), process %s: %+v, want positive RSS and no negative CPU", r.Shape, r.Nodes, p.Name, p)
			}
		}
		wantNames := "node"
		if r.Nodes == 3 {
			wantNames = "A B C redis"
			if r.RedisMasters == 3 {
				wantNames = "A B C redis 1 redis 2 redis 3"
			}
		}
		if got := strings.Join(names, " "); got != wantNames {
			t.Errorf("%s on %d node(s): processes %q, want %q", r.Shape, r.Nodes, got, wantNames)
		}
		// The subscribers' sockets are on node B (or the single node):
		// its memory grows with them.
		holder := r.proc("node")
		if r.Nodes == 3 {
			holder = r.proc("B")
		}
		if holder == nil || holder.KiBPerConn <= 0 {
			t.Errorf("%s on %d node(s): the node holding the sockets grew %+v, want > 0 KiB/conn", r.Shape, r.Nodes, holder)
		}
	}
}

// TestClusterOnRedisCluster runs the cluster scenario on a local Redis
// Cluster of three masters. It skips while the server does not accept a
// redis+cluster:// URL.
func TestClusterOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real server")
	}
	needOnPath(t, "redis-server", "redis-cli")
	cfg := e2eConfig("cluster", "ws", buildServer(t))
	cfg.Clients, cfg.Rates, cfg.ClusterFanoutRate = 50, []float64{20}, 5
	cfg.Duration, cfg.Warmup, cfg.RedisCluster = time.Second, 300*time.Millisecond, true
	rs, err := run(context.Background(), cfg)
	if err != nil && strings.Contains(err.Error(), "invalid redis_url") {
		t.Skipf("the server does not take a Redis Cluster URL yet: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	checkClusterResults(t, rs, 50, 20, 5)
	var out bytes.Buffer
	writeTables(&out, rs, cfg.P99Limit)
	if !strings.Contains(out.String(), "a Redis Cluster of 3 masters") {
		t.Errorf("the table does not say the nodes shared a Redis Cluster:\n%s", out.String())
	}
}

// needOnPath skips the test unless every one of bins is on $PATH.
func needOnPath(t *testing.T, bins ...string) {
	t.Helper()
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not on $PATH: not tested", bin)
		}
	}
}

func TestRedisClusterStartsAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	needOnPath(t, "redis-server", "redis-cli")
	t.Parallel()
	rs, url, err := startRedisServers(context.Background(), "", true)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			for _, r := range rs {
				r.stop()
			}
		}
	})
	if len(rs) != 3 || url != "redis+cluster://"+rs[0].addr+","+rs[1].addr+","+rs[2].addr {
		t.Fatalf("%d servers, URL %q: want 3 and redis+cluster://their addresses", len(rs), url)
	}
	for _, r := range rs {
		info, err := redisCommand(r.addr, "CLUSTER INFO")
		if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
			t.Errorf("%s: CLUSTER INFO %q, %v: want ok with 3 known nodes", r.addr, info, err)
		}
	}
	for _, r := range rs {
		r.stop()
		if r.alive() {
			t.Errorf("redis-server on %s still runs after stop", r.addr)
		}
		if _, err := os.Stat(r.dir); !os.IsNotExist(err) {
			t.Errorf("its directory %s is still there: %v", r.dir, err)
		}
	}
	stopped = true
}
