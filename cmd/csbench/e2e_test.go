package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildServer builds cmd/channelstream into a temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "channelstream")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/channelstream-go/channelstream-go/cmd/channelstream")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the server: %v\n%s", err, out)
	}
	return bin
}

// e2eConfig is a small, quick run against bin.
func e2eConfig(scenario, transport, bin string) Config {
	return Config{
		Scenario: scenario, Adapter: "channelstream", Transports: []string{transport},
		Clients: 50, Duration: 2 * time.Second, Rates: []float64{3},
		Warmup: 500 * time.Millisecond, Drain: 8 * time.Second, Settle: 300 * time.Millisecond,
		Repeat: 1, Concurrency: 16, ConnectTimeout: 30 * time.Second, PubInflight: 8,
		Channel: "bench", SourceIPs: 1, P99Limit: 300 * time.Millisecond,
		Server: ServerConfig{Bin: bin, Secret: "e2e-secret"},
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
	bin := buildServer(t)
	t.Cleanup(func() {
		if pids := processesOf(bin); len(pids) > 0 {
			t.Errorf("servers left running: pids %v", pids)
		}
	})
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			t.Run("idle costs memory and CPU per connection", func(t *testing.T) {
				rs, err := run(context.Background(), e2eConfig("idle", tr, bin))
				if err != nil {
					t.Fatal(err)
				}
				r := rs[0]
				if r.RSSBeforeKiB <= 0 || r.RSSAfterKiB <= 0 || r.KiBPerConn <= 0 {
					t.Errorf("RSS before %d KiB, after %d KiB, %.2f KiB/conn: want positive", r.RSSBeforeKiB, r.RSSAfterKiB, r.KiBPerConn)
				}
				if r.WindowSeconds < 1.9 || r.CPUMicrosPerSecConn < 0 {
					t.Errorf("window %.2fs, %.2f µs/s/conn", r.WindowSeconds, r.CPUMicrosPerSecConn)
				}
				if r.Dropped != 0 {
					t.Errorf("%d subscribers dropped", r.Dropped)
				}
			})
			t.Run("fanout delivers everything once", func(t *testing.T) {
				rs, err := run(context.Background(), e2eConfig("fanout", tr, bin))
				if err != nil {
					t.Fatal(err)
				}
				checkFanout(t, rs[0], 50, 6)
			})
		})
	}
}

func checkFanout(t *testing.T, r Result, clients, messages int64) {
	t.Helper()
	if r.Lost != 0 || r.Duplicated != 0 || r.Unexpected != 0 || r.PublishErrors != 0 || r.Dropped != 0 {
		t.Errorf("lost %d, duplicated %d, unexpected %d, publish errors %d, dropped %d: want none",
			r.Lost, r.Duplicated, r.Unexpected, r.PublishErrors, r.Dropped)
	}
	if r.Messages != messages || r.Deliveries != clients*messages {
		t.Errorf("%d messages, %d deliveries, want %d and %d", r.Messages, r.Deliveries, messages, clients*messages)
	}
	if r.P50ms <= 0 || r.P99ms < r.P50ms || r.Maxms < r.P99ms || r.Maxms > 5000 {
		t.Errorf("latency p50 %.3f p99 %.3f max %.3f ms: want 0 < p50 ≤ p99 ≤ max < 5 s", r.P50ms, r.P99ms, r.Maxms)
	}
	if r.DeliveredPerSec <= 0 || r.DeliveredPerSec > 1.05*r.OfferedPerSec {
		t.Errorf("delivered %.0f/s for %.0f/s offered", r.DeliveredPerSec, r.OfferedPerSec)
	}
}

func TestExternalServerByPID(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real server")
	}
	bin := buildServer(t)
	srv, err := startServer(context.Background(), ServerConfig{Bin: bin, Secret: "ext"})
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
	err := checkFileBudget(1 << 30)
	if !errors.Is(err, errFileLimit) || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		t.Errorf("checkFileBudget(2³⁰) = %v, want errFileLimit naming RLIMIT_NOFILE", err)
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
		{"fanout", "--rate", "0"},
		{"idle", "-n", "0"},
	} {
		var out, errOut strings.Builder
		if code := realMain(args, &out, &errOut); code != 2 {
			t.Errorf("csbench %v exited %d, want 2 (stderr %q)", args, code, errOut.String())
		}
	}
}
