package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// Suite defaults: what `csbench suite` (make bench) measures when no flag
// says otherwise.
const (
	suiteChannelsRate = 500  // channels: publishes per second
	suiteChurnClients = 1000 // churn: steady clients
	suiteChurnRate    = 200  // churn: connects per second
)

// runSuite runs the short default suite: for every system (Centrifugo
// only when installed), the idle cost and a fanout sweep of the same
// subscribers over WebSocket, then over SSE and long-poll with two rates;
// the channels scenario and the churn scenario over WebSocket. Flags given
// on the command line override the suite's defaults.
func runSuite(ctx context.Context, o options) ([]Result, error) {
	base := o.cfg
	if !o.explicit["system"] {
		base.Systems = []*system{systemChannelstream}
		if _, err := findCentrifugo(base.Server.CentrifugoBin); err == nil {
			base.Systems = append(base.Systems, systemCentrifugo)
		} else {
			base.logf("csbench: %v: measuring channelstream-go only", err)
		}
	}
	if !o.explicit["transport"] {
		base.Transports = transports
	}
	var all []Result
	for _, job := range suiteJobs(o, base) {
		rs, err := run(ctx, job)
		all = append(all, rs...)
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

// suiteIdleDuration is how long the suite measures the idle cost: two
// whole heartbeat intervals of channelstream-go (5 s). Over the suite's 3 s
// steps it was less than one interval, and it included the seconds right
// after 10 000 clients connected. Centrifugo pings every 25 s: this window
// catches its pings or not, depending on where they fall, so its idle
// CPU in the suite is no more than a bound from below (csbench idle
// --duration 50s measures it over two of its intervals).
const suiteIdleDuration = 10 * time.Second

// suiteJobs returns the suite's measurements, in order.
func suiteJobs(o options, base Config) []Config {
	var jobs []Config
	ws := slices.Contains(base.Transports, "ws")
	if ws {
		j := base
		j.Scenario, j.Transports, j.IdleFirst, j.Rates = "fanout", []string{"ws"}, true, o.suiteRates
		jobs = append(jobs, j)
	}
	var others []string
	for _, t := range base.Transports {
		if t != "ws" {
			others = append(others, t)
		}
	}
	if len(others) > 0 {
		j := base
		j.Scenario, j.Transports, j.IdleFirst = "fanout", others, true
		j.Rates = []float64{o.suiteRates[0]}
		if len(o.suiteRates) > 2 {
			j.Rates = append(j.Rates, o.suiteRates[len(o.suiteRates)/2])
		}
		jobs = append(jobs, j)
	}
	if ws {
		j := base
		j.Scenario, j.Transports, j.Rates = "channels", []string{"ws"}, []float64{suiteChannelsRate}
		jobs = append(jobs, j)
		j = base
		j.Scenario, j.Transports = "churn", []string{"ws"}
		if !o.explicit["clients"] {
			j.Clients = min(suiteChurnClients, base.Clients)
		}
		if !o.explicit["churn-rate"] {
			j.ChurnRate = suiteChurnRate
		}
		if !o.explicit["settle"] {
			j.Settle = time.Second
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// column is one system over one transport in the summary.
type column struct{ system, transport string }

func (c column) label() string { return systemLabel(c.system) + " " + c.transport }

// summaryRow is one line of the summary: a metric, its value per column
// and, where a target is set, the target.
type summaryRow struct {
	name   string
	get    func(c column) (float64, bool)
	format string // for fmt, e.g. "%.1f"
	target string
	ratio  bool // show channelstream-go ws ÷ centrifugo ws
}

// writeSummary prints the suite's one table: a row per metric, a column per
// system and transport (medians when runs were repeated), and the ratio
// channelstream-go ÷ Centrifugo over WebSocket.
func writeSummary(w io.Writer, rs []Result, versions map[string]string, p99Limit time.Duration) {
	pick := pickResults(rs)
	var cols []column
	for _, sys := range systems {
		for _, t := range transports {
			c := column{sys.name, t}
			for _, r := range pick {
				if r.System == c.system && r.Transport == c.transport {
					cols = append(cols, c)
					break
				}
			}
		}
	}
	find := func(c column, scenario string, rate float64) (Result, bool) {
		for _, r := range pick {
			if r.System == c.system && r.Transport == c.transport && r.Scenario == scenario && (rate == 0 || r.Rate == rate) {
				return r, true
			}
		}
		return Result{}, false
	}
	field := func(scenario string, rate float64, f func(Result) float64) func(column) (float64, bool) {
		return func(c column) (float64, bool) {
			r, ok := find(c, scenario, rate)
			return f(r), ok
		}
	}
	var rows []summaryRow
	add := func(name, format, target string, ratio bool, get func(column) (float64, bool)) {
		rows = append(rows, summaryRow{name: name, get: get, format: format, target: target, ratio: ratio})
	}
	clients := map[string]int{}
	for _, r := range pick {
		clients[r.Scenario] = r.Clients
	}
	if n, ok := clients["idle"]; ok {
		add(fmt.Sprintf("idle, %d conns: server RSS KiB/conn", n), "%.2f", "≤ 0.35×", true, field("idle", 0, func(r Result) float64 { return r.KiBPerConn }))
		add("idle: server CPU µs/s/conn", "%.2f", "≤ 3", true, field("idle", 0, func(r Result) float64 { return r.CPUMicrosPerSecConn }))
	}
	var rates []float64
	for _, r := range pick {
		if r.Scenario == "fanout" && !slices.Contains(rates, r.Rate) {
			rates = append(rates, r.Rate)
		}
	}
	sort.Float64s(rates)
	for k, rate := range rates {
		pre := fmt.Sprintf("fanout %g msg/s to %d: ", rate, clients["fanout"])
		if k == 0 {
			add(pre+"p50 ms", "%.1f", "", true, field("fanout", rate, func(r Result) float64 { return r.P50ms }))
			add(pre+"p99 ms", "%.1f", "≤ 0.25×", true, field("fanout", rate, func(r Result) float64 { return r.P99ms }))
			add(pre+"p99.9 ms", "%.1f", "", true, field("fanout", rate, func(r Result) float64 { return r.P999ms }))
			add(pre+"max ms", "%.1f", "", true, field("fanout", rate, func(r Result) float64 { return r.Maxms }))
			continue
		}
		add(pre+"delivered/s", "%.0f", "", true, field("fanout", rate, func(r Result) float64 { return r.DeliveredPerSec }))
		add(pre+"p99 ms", "%.1f", "", true, field("fanout", rate, func(r Result) float64 { return r.P99ms }))
	}
	if len(rates) > 0 {
		_, by := best(pick, p99Limit)
		add(fmt.Sprintf("fanout: highest delivered/s at p99 ≤ %v", p99Limit), "%.0f", "≥ 2×", true, func(c column) (float64, bool) {
			k := systemLabel(c.system) + " " + c.transport
			b, seen := by[k]
			if !seen {
				return 0, false
			}
			if b == nil {
				return math.NaN(), true // no rate qualified
			}
			return b.DeliveredPerSec, true
		})
	}
	for _, r := range pick {
		if r.Scenario == "channels" {
			pre := fmt.Sprintf("channels %g msg/s, %d conns in %d channels: ", r.Rate, r.Clients, r.Channels)
			add(pre+"delivered/s", "%.0f", "", true, field("channels", r.Rate, func(r Result) float64 { return r.DeliveredPerSec }))
			add(pre+"p50 ms", "%.1f", "", true, field("channels", r.Rate, func(r Result) float64 { return r.P50ms }))
			add(pre+"p99 ms", "%.1f", "", true, field("channels", r.Rate, func(r Result) float64 { return r.P99ms }))
			break
		}
	}
	for _, r := range pick {
		if r.Scenario == "churn" {
			pre := fmt.Sprintf("churn %g/s beside %d: ", r.ChurnRate, r.Clients)
			add(pre+"connects/s", "%.0f", "", true, field("churn", 0, func(r Result) float64 { return r.ConnectsPerSec }))
			add(pre+"connect p99 ms", "%.1f", "", true, field("churn", 0, func(r Result) float64 { return r.ConnP99ms }))
			add(pre+"server CPU µs/connect", "%.0f", "", true, field("churn", 0, func(r Result) float64 { return r.ServerCPUMicrosPerConnect }))
			add("churn leak: goroutines after − before", "%+.0f", "≈ 0", false, delta("churn", find, func(r Result) (int64, int64) { return r.GoroutinesBefore, r.GoroutinesAfter }))
			add("churn leak: open files after − before", "%+.0f", "≈ 0", false, delta("churn", find, func(r Result) (int64, int64) { return r.FDsBefore, r.FDsAfter }))
			add("churn leak: server conns after − before", "%+.0f", "0", false, delta("churn", find, func(r Result) (int64, int64) { return r.ConnsBefore, r.ConnsAfter }))
			add("churn leak: RSS MiB after − before", "%+.1f", "", false, func(c column) (float64, bool) {
				r, ok := find(c, "churn", 0)
				return float64(r.RSSAfterKiB-r.RSSBeforeKiB) / 1024, ok
			})
			break
		}
	}
	add("lost + duplicated + dropped, every scenario", "%.0f", "0", false, func(c column) (float64, bool) {
		n, ok := 0.0, false
		for _, r := range pick {
			if r.System == c.system && r.Transport == c.transport {
				n += float64(r.Lost + r.Duplicated + r.Dropped + r.Unexpected + r.ConnectFailures)
				ok = true
			}
		}
		return n, ok
	})
	add("noise: other processes' CPU %, worst run", "%.0f", "", false, func(c column) (float64, bool) {
		n, ok := 0.0, false
		for _, r := range rs {
			if r.System == c.system && r.Transport == c.transport && r.Error == "" {
				n, ok = max(n, r.OtherCPUPct), true
			}
		}
		return n, ok
	})

	var names []string
	for _, s := range systems {
		if v, ok := versions[s.label]; ok {
			names = append(names, s.label+": "+v)
		}
	}
	fmt.Fprintf(w, "csbench suite, %s (medians where runs were repeated)\n", strings.Join(names, "; "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	width := 0
	for _, row := range rows {
		width = max(width, utf8.RuneCountInString(row.name))
	}
	head := []string{"metric" + strings.Repeat(" ", max(width-len("metric"), 0))}
	for _, c := range cols {
		head = append(head, c.label())
	}
	cs, cf := column{"channelstream", "ws"}, column{"centrifugo", "ws"}
	showRatio := slices.Contains(cols, cs) && slices.Contains(cols, cf)
	if showRatio {
		head = append(head, "cs-go÷cf ws")
	}
	head = append(head, "target")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, row := range rows {
		// Padded to one width, the right-aligned names read left-aligned.
		cells := []string{row.name + strings.Repeat(" ", width-utf8.RuneCountInString(row.name))}
		for _, c := range cols {
			if v, ok := row.get(c); ok && math.IsNaN(v) {
				cells = append(cells, "none")
			} else if ok {
				cells = append(cells, fmt.Sprintf(row.format, v))
			} else {
				cells = append(cells, "—")
			}
		}
		if showRatio {
			a, okA := row.get(cs)
			b, okB := row.get(cf)
			if row.ratio && okA && okB && b != 0 && !math.IsNaN(a) && !math.IsNaN(b) {
				cells = append(cells, fmt.Sprintf("%.2f×", a/b))
			} else {
				cells = append(cells, "")
			}
		}
		cells = append(cells, row.target)
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	_ = tw.Flush()
	noise := 0.0
	for _, r := range rs {
		if r.Error == "" {
			noise = max(noise, r.OtherCPUPct)
		}
	}
	if noise > noisyPct {
		fmt.Fprintf(w, "warning: other processes used up to %.0f %% of a CPU during these runs: absolute figures are unreliable, "+
			"compare systems within this run (or use --repeat 3 --quiet-wait 2m --max-noise 25)\n", noise)
	}
}

// noisyPct is the share of a CPU used by other processes above which the
// summary warns that the machine was busy.
const noisyPct = 25

// delta returns the after − before of a pair of counts, unknown when
// either is.
func delta(scenario string, find func(column, string, float64) (Result, bool), f func(Result) (int64, int64)) func(column) (float64, bool) {
	return func(c column) (float64, bool) {
		r, ok := find(c, scenario, 0)
		if !ok {
			return 0, false
		}
		before, after := f(r)
		if before < 0 || after < 0 {
			return 0, false
		}
		return float64(after - before), true
	}
}

// pickResults returns the medians of repeated measurements and the single
// runs of the others (discarded runs left out).
func pickResults(rs []Result) []Result {
	ms := medians(rs)
	have := map[string]bool{}
	for _, m := range ms {
		have[m.key()] = true
	}
	out := append([]Result(nil), ms...)
	for _, r := range rs {
		if r.Error == "" && !have[r.key()] {
			out = append(out, r)
			have[r.key()] = true
		}
	}
	return out
}
