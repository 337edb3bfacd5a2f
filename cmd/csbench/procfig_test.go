package main

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestCpusAllowedReadsTheStatusLine(t *testing.T) {
	status := "Name:\tcsbench\nCpus_allowed:\t2\nCpus_allowed_list:\t1\nMems_allowed_list:\t0\n"
	if got := cpusAllowed(status); got != "1" {
		t.Errorf("cpusAllowed = %q, want 1", got)
	}
	if got := cpusAllowed("Name:\tx\n"); got != "" {
		t.Errorf("cpusAllowed without the line = %q, want empty", got)
	}
	if ownCPUs() == "" {
		t.Error("ownCPUs found no Cpus_allowed_list in /proc/self/status")
	}
}

func TestProcFiguresFromMemoryAndCPU(t *testing.T) {
	names := []string{"A", "B", "C", "redis"}
	before := []int64{10000, 10000, 10000, 5000}
	after := []int64{12000, 30000, 10400, 5000}
	procs := connectMemory(names, before, after, 400)
	want := []float64{5, 50, 1, 0}
	for i, p := range procs {
		if p.Name != names[i] || p.KiBPerConn != want[i] || p.RSSBeforeKiB != before[i] || p.RSSConnectedKiB != after[i] {
			t.Errorf("proc %d = %+v, want %s with %.0f KiB/conn", i, p, names[i], want[i])
		}
	}
	// A process whose RSS could not be read (0) has no growth figure.
	if p := connectMemory([]string{"A"}, []int64{0}, []int64{9000}, 10)[0]; p.KiBPerConn != 0 {
		t.Errorf("unreadable RSS gave %.1f KiB/conn, want 0", p.KiBPerConn)
	}
	w := cpuWindow{Wall: 10 * time.Second, PerProc: []time.Duration{time.Second, 2 * time.Second, 100 * time.Millisecond, 500 * time.Millisecond}}
	got := procCPU(procs, w, 10000, []int64{1, 2, 3, 4})
	if procs[0].CPUPct != 0 || procs[0].RSSEndKiB != 0 {
		t.Error("procCPU changed its input")
	}
	wantPct := []float64{10, 20, 1, 5}
	wantUs := []float64{100, 200, 10, 50}
	for i, p := range got {
		if p.CPUPct != wantPct[i] || p.CPUMicrosPerMsg != wantUs[i] || p.RSSEndKiB != int64(i+1) || p.KiBPerConn != want[i] {
			t.Errorf("proc %s = %+v, want %.0f %% and %.0f µs/msg", p.Name, p, wantPct[i], wantUs[i])
		}
	}
	r := Result{Procs: got}
	if s := r.summedMicrosPerMsg(); s != 360 {
		t.Errorf("summed %.1f µs/msg, want 360", s)
	}
	if c := r.proc("C"); c == nil || c.CPUPct != 1 {
		t.Errorf("proc(C) = %+v", c)
	}
	if r.proc("D") != nil {
		t.Error("proc(D) found a process that is not there")
	}
}

func TestMedianProcsPerProcess(t *testing.T) {
	run := func(cpuC, kib float64) Result {
		return Result{Scenario: "cluster", Shape: "personal", Nodes: 3, Run: 1, Procs: []ProcFigure{
			{Name: "A", CPUPct: 10}, {Name: "C", CPUPct: cpuC, KiBPerConn: kib, RSSEndKiB: int64(kib * 10)},
		}}
	}
	g := []Result{run(3, 7), run(1, 5), run(2, 6)}
	m := medianProcs(g)
	if len(m) != 2 || m[1].Name != "C" || m[1].CPUPct != 2 || m[1].KiBPerConn != 6 || m[1].RSSEndKiB != 60 || m[0].CPUPct != 10 {
		t.Errorf("medianProcs = %+v, want C at 2 %%, 6 KiB/conn, 60 KiB end", m)
	}
	g[2].Procs = g[2].Procs[:1]
	if m := medianProcs(g); m != nil {
		t.Errorf("runs with different processes gave %+v, want nil", m)
	}
	// The medians of a whole repetition carry the per-process medians.
	for i := range g {
		g[i].Run = i + 1
	}
	g[2] = run(2, 6)
	g[2].Run = 3
	ms := medians(g)
	if len(ms) != 1 || len(ms[0].Procs) != 2 || ms[0].Procs[1].CPUPct != 2 {
		t.Errorf("medians = %+v, want one with C at 2 %%", ms)
	}
}

func TestClusterTargetsJudgeNodeCAndTheCPUSum(t *testing.T) {
	single := func(shape string, us float64) Result {
		return Result{Scenario: "cluster", Shape: shape, Transport: "ws", Nodes: 1, Run: 1, ServerCPUs: "0", ClientCPUs: "1",
			Procs: []ProcFigure{{Name: "node", CPUMicrosPerMsg: us}}}
	}
	three := func(shape string, cpuC, kibC, us float64) Result {
		return Result{Scenario: "cluster", Shape: shape, Transport: "ws", Nodes: 3, Run: 1, ServerCPUs: "0", ClientCPUs: "1",
			Procs: []ProcFigure{{Name: "A", CPUMicrosPerMsg: us / 2}, {Name: "B", CPUMicrosPerMsg: us / 4},
				{Name: "C", CPUPct: cpuC, KiBPerConn: kibC}, {Name: "redis", CPUMicrosPerMsg: us / 4}}}
	}
	all := []Result{single("personal", 200), three("personal", 1.5, 6.5, 550), single("fanout", 900), three("fanout", 2.5, 0.4, 3000)}
	rows := clusterTargets(all)
	type want struct {
		shape, figure string
		met           bool
	}
	wants := []want{
		{"personal", "node C CPU", true}, {"personal", "node C RSS", false}, {"personal", "CPU per message", false},
		{"fanout", "node C CPU", false}, {"fanout", "node C RSS", true},
	}
	if len(rows) != len(wants) {
		t.Fatalf("%d target rows, want %d: %+v", len(rows), len(wants), rows)
	}
	for i, w := range wants {
		r := rows[i]
		if r.shape != w.shape || !strings.HasPrefix(r.figure, w.figure) || r.met != w.met {
			t.Errorf("row %d = %+v, want %s %q met=%v", i, r, w.shape, w.figure, w.met)
		}
	}
	if m := rows[2].measured; !strings.HasPrefix(m, "2.75×") || !strings.Contains(m, "550 ÷ 200") {
		t.Errorf("ratio cell %q, want 2.75× (550 ÷ 200 µs)", m)
	}
	var out bytes.Buffer
	writeClusterTargets(&out, all)
	for _, s := range []string{"nodes and Redis on CPU 0, csbench on CPU 1", "one redis-server", "NOT met", "≤ 1.5×"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("targets table lacks %q:\n%s", s, out.String())
		}
	}
	// A discarded run is left out.
	all[1].Error = "discarded"
	for _, r := range clusterTargets(all) {
		if r.shape == "personal" {
			t.Errorf("the discarded personal run was judged: %+v", r)
		}
	}
}

func TestReadRedisReply(t *testing.T) {
	for in, want := range map[string]string{
		"+PONG\r\n":                        "PONG",
		":42\r\n":                          "42",
		"$19\r\ncluster_state:ok\r\nx\r\n": "cluster_state:ok\r\nx",
		"$-1\r\n":                          "",
	} {
		got, err := readRedisReply(bufio.NewReader(strings.NewReader(in)))
		if err != nil || got != want {
			t.Errorf("readRedisReply(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"-ERR nope\r\n", "*1\r\n", "$x\r\n", "$5\r\nab", ""} {
		if got, err := readRedisReply(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("readRedisReply(%q) = %q, want an error", in, got)
		}
	}
}

func TestClusterFlagsDefaultToTheIssueShapes(t *testing.T) {
	o, err := parseFlags([]string{"cluster"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Clients != 4000 || c.Rates[0] != 1000 || c.ClusterFanoutRate != 10 || c.RedisCluster {
		t.Errorf("cluster defaults: %d clients, %v msgs/s personal, %g fanout, redis cluster %v; want 4000, 1000, 10, false",
			c.Clients, c.Rates, c.ClusterFanoutRate, c.RedisCluster)
	}
	o, err = parseFlags([]string{"cluster", "--redis-cluster", "-n", "50"}, io.Discard)
	if err != nil || !o.cfg.RedisCluster || o.cfg.Clients != 50 {
		t.Errorf("cluster --redis-cluster -n 50: %v, redis cluster %v, %d clients", err, o.cfg.RedisCluster, o.cfg.Clients)
	}
}
