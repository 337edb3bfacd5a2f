package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
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

// writeTable prints every run and, when there are repetitions, their
// medians, as an aligned table; for fanout it ends with the highest
// delivered rate whose p99 stays within p99Limit with nothing lost.
func writeTable(w io.Writer, scenario string, rs []Result, p99Limit time.Duration) {
	all := append(append([]Result(nil), rs...), medians(rs)...)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	switch scenario {
	case "idle":
		fmt.Fprintln(tw, "transport\tclients\trun\tconnect s\tRSS before MiB\tRSS after MiB\tKiB/conn\tCPU µs/s/conn\tserver CPU %\tcsbench CPU %\tother CPU %\tserver wait %\tdropped\t")
		for _, r := range all {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t\n",
				r.Transport, r.Clients, runLabel(r), r.ConnectSeconds,
				float64(r.RSSBeforeKiB)/1024, float64(r.RSSAfterKiB)/1024, r.KiBPerConn,
				r.CPUMicrosPerSecConn, r.ServerCPUPct, r.ClientCPUPct, r.OtherCPUPct, r.ServerWaitPct, r.Dropped)
		}
	case "fanout":
		fmt.Fprintln(tw, "transport\tclients\trun\tmsgs/s\toffered/s\tdelivered/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tlost\tdup\tdropped\tpub err\tslow\tserver CPU %\tcsbench CPU %\tother CPU %\tserver wait %\tserver RSS MiB\t")
		for _, r := range all {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%g\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t\n",
				r.Transport, r.Clients, runLabel(r), r.Rate, r.OfferedPerSec, r.DeliveredPerSec,
				r.P50ms, r.P99ms, r.P999ms, r.Maxms, r.Lost, r.Duplicated, r.Dropped, r.PublishErrors,
				r.SlowDisconnects, r.ServerCPUPct, r.ClientCPUPct, r.OtherCPUPct, r.ServerWaitPct, float64(r.RSSAfterKiB)/1024)
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
}

// sustained names, per transport, the highest delivered rate whose p99 is
// within limit with no loss, using the medians when there are repetitions.
func sustained(all []Result, limit time.Duration) []string {
	hasMedian := false
	for _, r := range all {
		hasMedian = hasMedian || r.Run == 0
	}
	best := map[string]*Result{}
	var order []string
	for i := range all {
		r := &all[i]
		if (r.Run == 0) != hasMedian {
			continue
		}
		if _, seen := best[r.Transport]; !seen {
			order = append(order, r.Transport)
			best[r.Transport] = nil
		}
		if r.P99ms <= float64(limit)/1e6 && r.Lost == 0 && r.Error == "" {
			if b := best[r.Transport]; b == nil || r.DeliveredPerSec > b.DeliveredPerSec {
				best[r.Transport] = r
			}
		}
	}
	var lines []string
	for _, tr := range order {
		if b := best[tr]; b != nil {
			lines = append(lines, fmt.Sprintf("%s: highest delivered rate with p99 ≤ %v and nothing lost: %.0f deliveries/s (%g msgs/s, run %s)",
				tr, limit, b.DeliveredPerSec, b.Rate, runLabel(*b)))
		} else {
			lines = append(lines, fmt.Sprintf("%s: no rate kept p99 ≤ %v with nothing lost", tr, limit))
		}
	}
	return lines
}

// writeJSON writes every result and the medians to path.
func writeJSON(path string, rs []Result) error {
	doc := struct {
		Results []Result `json:"results"`
		Medians []Result `json:"medians"`
	}{rs, medians(rs)}
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
