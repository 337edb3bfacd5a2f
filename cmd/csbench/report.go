package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func itoa(n int) string     { return strconv.Itoa(n) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// runLabel names a repetition in the table: run 0 is the median, a
// discarded run is marked with "x".
func runLabel(r Result) string {
	switch {
	case r.Run == 0:
		return "median"
	case r.Error != "":
		return itoa(r.Run) + "x"
	}
	return itoa(r.Run)
}

// systemLabel returns the table name of a system.
func systemLabel(name string) string {
	if s, err := systemNamed(name); err == nil {
		return s.label
	}
	return name
}

// mib formats KiB as MiB.
func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

// known formats a count that may be unknown (-1).
func known(v int64) string {
	if v < 0 {
		return "?"
	}
	return strconv.FormatInt(v, 10)
}

// writeTables prints, for every scenario in rs (in order of first
// appearance), every run and, when there are repetitions, their medians, as
// an aligned table; fanout ends with the highest delivered rate whose p99
// stays within p99Limit with nothing lost.
func writeTables(w io.Writer, rs []Result, p99Limit time.Duration) {
	var order []string
	by := map[string][]Result{}
	for _, r := range rs {
		if _, ok := by[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		by[r.Scenario] = append(by[r.Scenario], r)
	}
	for i, sc := range order {
		if i > 0 {
			fmt.Fprintln(w)
		}
		writeTable(w, sc, by[sc], p99Limit)
	}
}

// writeTable prints the table of one scenario.
func writeTable(w io.Writer, scenario string, rs []Result, p99Limit time.Duration) {
	all := append(append([]Result(nil), rs...), medians(rs)...)
	fmt.Fprintf(w, "== %s\n", scenario)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	head := []string{"system", "transport", "clients", "run"}
	lead := func(r Result) []string {
		return []string{systemLabel(r.System), r.Transport, itoa(r.Clients), runLabel(r)}
	}
	cpu := func(r Result) []string {
		return []string{f0(r.ServerCPUPct), f0(r.ClientCPUPct), f0(r.OtherCPUPct), f0(r.ServerWaitPct)}
	}
	cpuHead := []string{"server CPU %", "csbench CPU %", "other CPU %", "server wait %"}
	switch scenario {
	case "idle":
		row(append(append(head, "connect s", "RSS before MiB", "RSS after MiB", "KiB/conn", "CPU µs/s/conn"), append(cpuHead, "dropped")...)...)
		for _, r := range all {
			row(append(append(lead(r), f1(r.ConnectSeconds), mib(r.RSSBeforeKiB), mib(r.RSSAfterKiB), f2(r.KiBPerConn),
				f2(r.CPUMicrosPerSecConn)), append(cpu(r), i64(r.Dropped))...)...)
		}
	case "fanout", "channels", "slow":
		h := append([]string(nil), head...)
		if scenario == "channels" {
			h = append(h, "channels")
		}
		if scenario == "slow" {
			h = append(h, "stalled", "stalled cut", "cut after s", "RSS start MiB", "RSS max MiB")
		}
		h = append(h, "msgs/s", "offered/s", "delivered/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "lost", "dup", "dropped", "pub err", "slow")
		row(append(append(h, cpuHead...), "RSS MiB")...)
		for _, r := range all {
			c := lead(r)
			if scenario == "channels" {
				c = append(c, i64(r.Channels))
			}
			if scenario == "slow" {
				c = append(c, i64(r.Stalled), i64(r.StalledDisconnected), f1(r.StallDisconnectSeconds), mib(r.RSSStartKiB), mib(r.RSSMaxKiB))
			}
			c = append(c, ftoa(r.Rate), f0(r.OfferedPerSec), f0(r.DeliveredPerSec), f2(r.P50ms), f2(r.P99ms), f2(r.P999ms), f2(r.Maxms),
				i64(r.Lost), i64(r.Duplicated), i64(r.Dropped), i64(r.PublishErrors), i64(r.SlowDisconnects))
			row(append(append(c, cpu(r)...), mib(r.RSSAfterKiB))...)
		}
	case "cluster":
		h := append(append([]string(nil), head...), "shape", "nodes", "msgs/s", "offered/s", "delivered/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
			"lost", "dup", "dropped", "pub err")
		row(append(append(h, cpuHead...), "RSS A MiB")...)
		for _, r := range all {
			c := append(lead(r), r.Shape, itoa(r.Nodes), ftoa(r.Rate), f0(r.OfferedPerSec), f0(r.DeliveredPerSec), f2(r.P50ms), f2(r.P99ms),
				f2(r.P999ms), f2(r.Maxms), i64(r.Lost), i64(r.Duplicated), i64(r.Dropped), i64(r.PublishErrors))
			row(append(append(c, cpu(r)...), mib(r.RSSAfterKiB))...)
		}
	case "churn":
		row(append(append(head, "churn/s", "life s", "connects", "failed", "connects/s", "disconnects/s", "connect p50 ms", "connect p99 ms",
			"connect max ms", "server µs/connect", "goroutines", "fds", "server conns", "RSS MiB", "settle s"), cpuHead...)...)
		for _, r := range all {
			row(append(append(lead(r), ftoa(r.ChurnRate), f1(r.LifetimeSeconds), i64(r.Connects), i64(r.ConnectFailures+r.NotStarted),
				f0(r.ConnectsPerSec), f0(r.DisconnectsPerSec), f2(r.ConnP50ms), f2(r.ConnP99ms), f2(r.ConnMaxms), f0(r.ServerCPUMicrosPerConnect),
				known(r.GoroutinesBefore)+"→"+known(r.GoroutinesAfter), known(r.FDsBefore)+"→"+known(r.FDsAfter),
				known(r.ConnsBefore)+"→"+known(r.ConnsAfter), mib(r.RSSBeforeKiB)+"→"+mib(r.RSSAfterKiB), f1(r.LeakSettleSeconds)), cpu(r)...)...)
		}
	}
	_ = tw.Flush()
	for _, r := range rs {
		if r.Error != "" {
			fmt.Fprintln(w, "runs marked x were discarded (left out of the medians): see --max-noise")
			break
		}
	}
	if scenario == "fanout" {
		for _, line := range sustained(all, p99Limit) {
			fmt.Fprintln(w, line)
		}
	}
	if scenario == "cluster" {
		fmt.Fprintf(w, "nodes %d: REST calls to node A, subscribers on node B, node C idle, through Redis; server CPU sums every node and Redis\n", clusterNodes)
		for _, line := range addedLatency(all) {
			fmt.Fprintln(w, line)
		}
		fmt.Fprintln(w)
		writeClusterProcs(w, all)
		fmt.Fprintln(w)
		writeClusterTargets(w, all)
	}
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }
func i64(v int64) string  { return strconv.FormatInt(v, 10) }

// best returns, per system and transport (in order of first appearance),
// the fanout result with the highest delivered rate whose p99 is within
// limit with nothing lost, nil where none is; it uses the medians when
// there are repetitions.
func best(all []Result, limit time.Duration) (order []string, by map[string]*Result) {
	hasMedian := false
	for _, r := range all {
		hasMedian = hasMedian || r.Run == 0
	}
	by = map[string]*Result{}
	for i := range all {
		r := &all[i]
		if r.Scenario != "fanout" || (r.Run == 0) != hasMedian {
			continue
		}
		k := systemLabel(r.System) + " " + r.Transport
		if _, seen := by[k]; !seen {
			order = append(order, k)
			by[k] = nil
		}
		if r.P99ms <= float64(limit)/1e6 && r.Lost == 0 && r.Error == "" {
			if b := by[k]; b == nil || r.DeliveredPerSec > b.DeliveredPerSec {
				by[k] = r
			}
		}
	}
	return order, by
}

// sustained names, per system and transport, the highest delivered rate
// whose p99 is within limit with no loss.
func sustained(all []Result, limit time.Duration) []string {
	order, by := best(all, limit)
	var lines []string
	for _, k := range order {
		if b := by[k]; b != nil {
			lines = append(lines, fmt.Sprintf("%s: highest delivered rate with p99 ≤ %v and nothing lost: %.0f deliveries/s (%g msgs/s, run %s)",
				k, limit, b.DeliveredPerSec, b.Rate, runLabel(*b)))
		} else {
			lines = append(lines, fmt.Sprintf("%s: no rate kept p99 ≤ %v with nothing lost", k, limit))
		}
	}
	return lines
}

// writeJSON writes every result and the medians to path, with the versions
// of the servers measured.
func writeJSON(path string, rs []Result, versions map[string]string) error {
	doc := struct {
		Versions map[string]string `json:"versions,omitempty"`
		Results  []Result          `json:"results"`
		Medians  []Result          `json:"medians"`
	}{versions, rs, medians(rs)}
	if doc.Results == nil {
		doc.Results = []Result{}
	}
	if doc.Medians == nil {
		doc.Medians = []Result{}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write --json: %w", err)
	}
	return nil
}
