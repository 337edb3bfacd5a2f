package main

import (
	"context"
	"os"
	"strings"
	"time"
)

// ProcFigure is what one server-side process of a cluster-scenario run
// used: node A, B or C, a redis-server, or the single node of the
// baseline.
type ProcFigure struct {
	Name string `json:"name"`
	// CPUPct is its CPU time (utime + stime of /proc/<pid>/stat) over the
	// step's window (publishing, warm-up included, and the drain), as a
	// percentage of one core.
	CPUPct float64 `json:"cpu_percent"`
	// CPUMicrosPerMsg is that CPU time divided by the messages published
	// in the window.
	CPUMicrosPerMsg float64 `json:"cpu_us_per_msg"`
	// RSS (VmRSS) before the subscribers connected, once they had
	// connected and Config.Settle passed, and after the step.
	RSSBeforeKiB    int64 `json:"rss_before_kib"`
	RSSConnectedKiB int64 `json:"rss_connected_kib"`
	RSSEndKiB       int64 `json:"rss_end_kib"`
	// KiBPerConn is (RSSConnectedKiB − RSSBeforeKiB) / subscribers: what
	// each connection of the cluster costs this process.
	KiBPerConn float64 `json:"kib_per_conn"`
}

// procRSS returns the VmRSS of each pid, 0 where unreadable.
func procRSS(pids []int) []int64 {
	out := make([]int64, len(pids))
	for i, p := range pids {
		if m, err := readMem(p); err == nil {
			out[i] = m.RSSKiB
		}
	}
	return out
}

// connMemBefore reads the RSS of every server-side process before the
// subscribers connect: for a cluster-scenario run (cfg.Nodes ≥ 1) only,
// nil otherwise.
func connMemBefore(cfg Config, srv *server) []int64 {
	if cfg.Nodes < 1 {
		return nil
	}
	return procRSS(srv.pids())
}

// connMemAfter waits cfg.Settle (for every node to have applied the
// connects), reads the RSS again and returns one ProcFigure per process
// with its memory figures; nil when before is.
func connMemAfter(ctx context.Context, cfg Config, srv *server, before []int64) ([]ProcFigure, error) {
	if before == nil {
		return nil, nil
	}
	if err := sleepCtx(ctx, cfg.Settle); err != nil {
		return nil, err
	}
	return connectMemory(srv.procNames(), before, procRSS(srv.pids()), cfg.Clients), nil
}

// connectMemory pairs the RSS of each named process before and after n
// subscribers connected.
func connectMemory(names []string, before, after []int64, n int) []ProcFigure {
	out := make([]ProcFigure, len(names))
	for i, name := range names {
		f := ProcFigure{Name: name}
		if i < len(before) && i < len(after) {
			f.RSSBeforeKiB, f.RSSConnectedKiB = before[i], after[i]
			if n > 0 && before[i] > 0 && after[i] > 0 {
				f.KiBPerConn = float64(after[i]-before[i]) / float64(n)
			}
		}
		out[i] = f
	}
	return out
}

// procCPU returns a copy of procs with the CPU of window w (w.PerProc in
// the same order), over msgs messages, and each process's RSS at the end.
func procCPU(procs []ProcFigure, w cpuWindow, msgs uint64, end []int64) []ProcFigure {
	out := append([]ProcFigure(nil), procs...)
	for i := range out {
		if i < len(w.PerProc) {
			out[i].CPUPct = w.pct(w.PerProc[i])
			if msgs > 0 {
				out[i].CPUMicrosPerMsg = float64(w.PerProc[i]) / float64(time.Microsecond) / float64(msgs)
			}
		}
		if i < len(end) {
			out[i].RSSEndKiB = end[i]
		}
	}
	return out
}

// medianProcs returns, process by process, the median of each figure over
// the runs of g (nil unless every run has the same processes).
func medianProcs(g []Result) []ProcFigure {
	if len(g) == 0 || len(g[0].Procs) == 0 {
		return nil
	}
	out := append([]ProcFigure(nil), g[0].Procs...)
	for i := range out {
		var cpu, us, before, conn, end, perConn []float64
		for _, r := range g {
			if len(r.Procs) != len(out) || r.Procs[i].Name != out[i].Name {
				return nil
			}
			p := r.Procs[i]
			cpu, us, perConn = append(cpu, p.CPUPct), append(us, p.CPUMicrosPerMsg), append(perConn, p.KiBPerConn)
			before, conn, end = append(before, float64(p.RSSBeforeKiB)), append(conn, float64(p.RSSConnectedKiB)), append(end, float64(p.RSSEndKiB))
		}
		out[i].CPUPct, out[i].CPUMicrosPerMsg, out[i].KiBPerConn = median(cpu), median(us), median(perConn)
		out[i].RSSBeforeKiB, out[i].RSSConnectedKiB, out[i].RSSEndKiB = int64(median(before)), int64(median(conn)), int64(median(end))
	}
	return out
}

// proc returns r's figures of the process named name, nil when absent.
func (r *Result) proc(name string) *ProcFigure {
	for i := range r.Procs {
		if r.Procs[i].Name == name {
			return &r.Procs[i]
		}
	}
	return nil
}

// summedMicrosPerMsg is the CPU per message of every server-side process
// of r together (every node and Redis).
func (r *Result) summedMicrosPerMsg() float64 {
	var sum float64
	for _, p := range r.Procs {
		sum += p.CPUMicrosPerMsg
	}
	return sum
}

// ownCPUs returns the CPUs csbench may run on (Cpus_allowed_list of
// /proc/self/status), "" when unknown.
func ownCPUs() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	return cpusAllowed(string(b))
}

// cpusAllowed returns the Cpus_allowed_list of a /proc/<pid>/status text.
func cpusAllowed(status string) string {
	for line := range strings.SplitSeq(status, "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
