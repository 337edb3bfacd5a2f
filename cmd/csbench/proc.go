package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture csbench runs on.
const clockTicks = 100

// procMem is a process's resident memory, from /proc/<pid>/status.
type procMem struct {
	RSSKiB  int64 // VmRSS
	PeakKiB int64 // VmHWM
}

// readMem reads VmRSS and VmHWM of pid.
func readMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	var m procMem
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.RSSKiB = n
		case "VmHWM":
			m.PeakKiB = n
		}
	}
	if m.RSSKiB == 0 {
		return m, fmt.Errorf("read memory of pid %d: no VmRSS in /proc/%d/status", pid, pid)
	}
	return m, nil
}

// readCPU returns the CPU time pid has used so far, user plus system.
func readCPU(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces: fields are counted after
	// its closing parenthesis, which starts with field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("read CPU time: malformed %s", path)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("read CPU time: malformed %s", path)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("read CPU time: malformed %s", path)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// readBusy returns the CPU time every CPU of the machine has spent busy
// (all but idle and iowait), from the first line of /proc/stat.
func readBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read machine CPU time: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, errors.New("read machine CPU time: malformed /proc/stat")
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, errors.New("read machine CPU time: malformed /proc/stat")
		}
		// Fields: user nice system idle iowait irq softirq steal guest
		// guest_nice; guest time is already counted in user and nice.
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}

// readRunDelay returns how long the threads of pid (0: this process) have
// waited, runnable, for a CPU: the second field of each
// /proc/<pid>/task/<tid>/schedstat. Threads that exited are not counted.
func readRunDelay(pid int) (time.Duration, error) {
	dir := "/proc/self/task"
	if pid > 0 {
		dir = fmt.Sprintf("/proc/%d/task", pid)
	}
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("read run delay: %w", err)
	}
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			total += n
		}
	}
	return time.Duration(total), nil
}

// cpuMeter measures, over a window, the CPU time of the server, of csbench
// itself and of everything else on the machine (which should be near 0 for
// a clean measurement).
type cpuMeter struct {
	pids                []int
	per0                []time.Duration // each pid's CPU time at the start
	srv0, self0, all0   time.Duration
	srvWait0, selfWait0 time.Duration
	wall0               time.Time
	ok                  bool
}

// cpuWindow is what a cpuMeter measured.
type cpuWindow struct {
	Server, Self, Other, Wall time.Duration
	// PerProc is Server split by process, in the order of the pids given
	// to startCPU.
	PerProc []time.Duration
	// ServerWait and SelfWait are how long the threads of the server and
	// of csbench waited for a CPU while runnable: the cost of sharing the
	// cores with other work.
	ServerWait, SelfWait time.Duration
}

// pct returns d as a percentage of one CPU over the window.
func (w cpuWindow) pct(d time.Duration) float64 {
	if w.Wall <= 0 {
		return 0
	}
	return 100 * d.Seconds() / w.Wall.Seconds()
}

// startCPU starts measuring; the server is pid and, for a cluster, the
// more pids of its other processes.
func startCPU(pid int, more ...int) *cpuMeter {
	m := &cpuMeter{pids: append([]int{pid}, more...), wall0: time.Now()}
	var err1, err2, err3 error
	m.per0, m.srv0, err1 = m.serverCPU()
	m.self0, err2 = readCPU(0)
	m.all0, err3 = readBusy()
	m.srvWait0, _ = m.serverWait()
	m.selfWait0, _ = readRunDelay(0)
	m.ok = err1 == nil && err2 == nil && err3 == nil
	return m
}

// stop returns what was used since start (zeros when /proc was unreadable).
func (m *cpuMeter) stop() cpuWindow {
	w := cpuWindow{Wall: time.Since(m.wall0)}
	per, srv, err1 := m.serverCPU()
	self, err2 := readCPU(0)
	all, err3 := readBusy()
	if !m.ok || err1 != nil || err2 != nil || err3 != nil {
		return w
	}
	w.Server, w.Self = srv-m.srv0, self-m.self0
	for i := range per {
		w.PerProc = append(w.PerProc, per[i]-m.per0[i])
	}
	w.Other = max(all-m.all0-w.Server-w.Self, 0)
	if d, err := m.serverWait(); err == nil {
		w.ServerWait = max(d-m.srvWait0, 0)
	}
	if d, err := readRunDelay(0); err == nil {
		w.SelfWait = max(d-m.selfWait0, 0)
	}
	return w
}

// maxOpenFiles returns the soft "Max open files" of pid, 0 when unknown.
func maxOpenFiles(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// waitQuiet waits, for at most limit, until the machine's CPUs have been
// busy less than maxPct (of one CPU) over a whole second, so that a
// measurement does not start while other work runs. It returns the busy
// share of the last second.
func waitQuiet(ctx context.Context, limit time.Duration, maxPct float64) float64 {
	deadline := time.Now().Add(limit)
	pct := 0.0
	for {
		b0, err := readBusy()
		if err != nil || sleepCtx(ctx, time.Second) != nil {
			return pct
		}
		b1, err := readBusy()
		if err != nil {
			return pct
		}
		pct = 100 * (b1 - b0).Seconds()
		if pct < maxPct || time.Now().After(deadline) {
			return pct
		}
	}
}

// serverCPU returns the CPU time of each of the server's processes and
// their sum.
func (m *cpuMeter) serverCPU() ([]time.Duration, time.Duration, error) {
	per := make([]time.Duration, len(m.pids))
	var sum time.Duration
	for i, p := range m.pids {
		d, err := readCPU(p)
		if err != nil {
			return nil, 0, err
		}
		per[i] = d
		sum += d
	}
	return per, sum, nil
}

// serverWait sums the run-queue wait of the server's processes.
func (m *cpuMeter) serverWait() (time.Duration, error) {
	var sum time.Duration
	for _, p := range m.pids {
		d, err := readRunDelay(p)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}
