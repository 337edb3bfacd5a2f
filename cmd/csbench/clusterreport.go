package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Issue 13's targets for the three-node bystander measurement.
const (
	targetIdleNodeCPUPct   = 2.0 // node C, % of one core, both shapes
	targetIdleNodeKiBConn  = 1.0 // node C's RSS growth per cluster connection, KiB
	targetSummedCPUPerMsgX = 1.5 // summed CPU per personal message ÷ one node's
)

// clusterRows returns the cluster results the tables show: the medians
// when there are repetitions, else the runs, without discarded ones.
func clusterRows(all []Result) []*Result {
	hasMedian := slices.ContainsFunc(all, func(r Result) bool { return r.Run == 0 })
	var out []*Result
	for i := range all {
		r := &all[i]
		if r.Scenario == "cluster" && (r.Run == 0) == hasMedian && r.Error == "" {
			out = append(out, r)
		}
	}
	return out
}

// writeClusterProcs prints the figures of each server-side process.
func writeClusterProcs(w io.Writer, all []Result) {
	rows := clusterRows(all)
	if !slices.ContainsFunc(rows, func(r *Result) bool { return len(r.Procs) > 0 }) {
		return
	}
	fmt.Fprintln(w, "per process (CPU over each step's window; RSS growth per connection = (RSS connected − RSS before) ÷ subscribers):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	row("shape", "transport", "nodes", "run", "process", "CPU % of a core", "CPU µs/msg", "RSS before MiB", "RSS connected MiB", "KiB/conn", "RSS end MiB")
	for _, r := range rows {
		for _, p := range r.Procs {
			row(r.Shape, r.Transport, itoa(r.Nodes), runLabel(*r), p.Name, f2(p.CPUPct), f1(p.CPUMicrosPerMsg),
				mib(p.RSSBeforeKiB), mib(p.RSSConnectedKiB), f2(p.KiBPerConn), mib(p.RSSEndKiB))
		}
		if len(r.Procs) > 1 {
			row(r.Shape, r.Transport, itoa(r.Nodes), runLabel(*r), "sum", f2(sumCPUPct(r)), f1(r.summedMicrosPerMsg()), "", "", "", "")
		}
	}
	_ = tw.Flush()
}

// sumCPUPct is the CPU of every server-side process of r together.
func sumCPUPct(r *Result) float64 {
	var s float64
	for _, p := range r.Procs {
		s += p.CPUPct
	}
	return s
}

// targetRow is one of issue 13's targets next to its figure.
type targetRow struct {
	shape, transport, figure, target, measured string
	met                                        bool
}

// clusterTargets checks every shape and transport of all against issue
// 13's targets: node C's CPU and RSS growth per connection (both shapes),
// and the summed CPU per personal message against one node's.
func clusterTargets(all []Result) []targetRow {
	var out []targetRow
	for _, p := range clusterPairs(all) {
		if p.many == nil {
			continue
		}
		shape, tr := p.many.Shape, p.many.Transport
		if c := p.many.proc("C"); c != nil {
			out = append(out,
				targetRow{shape, tr, "node C CPU, % of a core", fmt.Sprintf("≤ %g", targetIdleNodeCPUPct),
					f2(c.CPUPct), c.CPUPct <= targetIdleNodeCPUPct},
				targetRow{shape, tr, "node C RSS growth, KiB per cluster connection", fmt.Sprintf("≤ %g", targetIdleNodeKiBConn),
					f2(c.KiBPerConn), c.KiBPerConn <= targetIdleNodeKiBConn})
		}
		if shape == "personal" && p.one != nil {
			many, one := p.many.summedMicrosPerMsg(), p.one.summedMicrosPerMsg()
			if one > 0 {
				x := many / one
				out = append(out, targetRow{shape, tr, "CPU per message, all nodes and Redis ÷ one node", fmt.Sprintf("≤ %g×", targetSummedCPUPerMsgX),
					fmt.Sprintf("%.2f× (%.0f ÷ %.0f µs)", x, many, one), x <= targetSummedCPUPerMsgX})
			}
		}
	}
	return out
}

// writeClusterTargets prints issue 13's targets next to the figures, with
// where the processes ran.
func writeClusterTargets(w io.Writer, all []Result) {
	rows := clusterTargets(all)
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "issue 13 targets (%s):\n", pinningNote(clusterRows(all)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "shape\ttransport\tfigure\ttarget\tmeasured\tverdict\t")
	for _, t := range rows {
		verdict := "met"
		if !t.met {
			verdict = "NOT met"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", t.shape, t.transport, t.figure, t.target, t.measured, verdict)
	}
	_ = tw.Flush()
}

// pinningNote says where the servers and csbench ran, and on what Redis.
func pinningNote(rows []*Result) string {
	if len(rows) == 0 {
		return ""
	}
	r := rows[0]
	srv, cli := "CPU "+r.ServerCPUs, "CPU "+r.ClientCPUs
	if r.ServerCPUs == "" {
		srv = "any CPU"
	}
	if r.ClientCPUs == "" {
		cli = "unknown CPUs"
	}
	redis := "one redis-server"
	if slices.ContainsFunc(rows, func(r *Result) bool { return r.RedisMasters > 0 }) {
		redis = fmt.Sprintf("a Redis Cluster of %d masters", redisClusterMasters)
	}
	return fmt.Sprintf("nodes and Redis on %s, csbench on %s; %d nodes on %s: REST to A, subscribers on B, C idle",
		srv, cli, clusterNodes, redis)
}
