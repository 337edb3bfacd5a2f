package main

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotScenarios is the order in which a scenario's latencies are chosen
// for the chart: the first one present in the results is drawn.
var plotScenarios = []string{"fanout", "channels", "slow", "churn"}

const (
	// plotMinMs is the floor of the latency axis (a log scale has no 0).
	plotMinMs = 0.01
	// legendRoom is how far above the highest point the latency axis
	// goes (a factor: the axis is logarithmic), for the legend.
	legendRoom = 8
)

// writePlot draws, in one chart saved to path (.png or .svg), the latency
// distribution of every system and transport: for the first scenario of
// plotScenarios in rs, its lowest rate (its stalled step for slow), from
// the medians when runs were repeated. The x axis counts nines (50 %, 90 %,
// 99 %, …), the y axis is logarithmic.
func writePlot(path string, rs []Result) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".svg":
	default:
		return fmt.Errorf("--plot %s: give a .png or .svg file", path)
	}
	pick := pickResults(rs)
	scenario := ""
	for _, sc := range plotScenarios {
		for _, r := range pick {
			if r.Scenario == sc && len(r.Latency) > 0 && scenario == "" {
				scenario = sc
			}
		}
	}
	if scenario == "" {
		return errors.New("--plot: no result has a latency distribution")
	}
	chosen := map[column]Result{}
	var order []column
	for _, r := range pick {
		if r.Scenario != scenario || len(r.Latency) == 0 {
			continue
		}
		c := column{r.System, r.Transport}
		prev, seen := chosen[c]
		better := !seen || (scenario == "slow" && r.Stalled > prev.Stalled) || (scenario != "slow" && r.Rate < prev.Rate)
		if !seen {
			order = append(order, c)
		}
		if better {
			chosen[c] = r
		}
	}
	p := plot.New()
	first := chosen[order[0]]
	what := "latency"
	switch scenario {
	case "fanout", "slow":
		p.Title.Text = fmt.Sprintf("%s: one channel, %d subscribers, %g msg/s", scenario, first.Clients, first.Rate)
	case "channels":
		p.Title.Text = fmt.Sprintf("channels: %d subscribers in %d channels, %g msg/s", first.Clients, first.Channels, first.Rate)
	case "churn":
		p.Title.Text = fmt.Sprintf("churn: %g connects/s beside %d clients", first.ChurnRate, first.Clients)
		what = "connect time"
	}
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = what + " (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Tick.Marker = plot.TickerFunc(ninesTicks)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	top := plotMinMs
	for i, c := range order {
		r := chosen[c]
		var xys plotter.XYs
		for _, pt := range r.Latency {
			if pt.Q >= 1 {
				continue // the maximum has no place on a nines axis
			}
			xys = append(xys, plotter.XY{X: nines(pt.Q), Y: max(pt.Ms, plotMinMs)})
			top = max(top, pt.Ms)
		}
		if len(xys) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i)
		l.Width = vg.Points(1.5)
		s.Shape = plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(fmt.Sprintf("%s (max %.0f ms)", c.label(), r.Maxms), l, s)
	}
	// Room above the highest line for the legend.
	p.Y.Max = top * legendRoom
	if err := p.Save(9*vg.Inch, 5.5*vg.Inch, path); err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	return nil
}

// nines maps a quantile to the nines axis: 0.9 → 1, 0.99 → 2, 0.999 → 3.
func nines(q float64) float64 { return -math.Log10(1 - q) }

// ninesTicks labels the nines axis with percentiles.
func ninesTicks(lo, hi float64) []plot.Tick {
	labels := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"}
	var ticks []plot.Tick
	for k := int(math.Floor(lo)); k <= int(math.Ceil(hi)) && k < len(labels); k++ {
		if k >= 0 {
			ticks = append(ticks, plot.Tick{Value: float64(k), Label: labels[k]})
		}
	}
	if lo <= nines(0.5) && hi >= nines(0.5) {
		ticks = append(ticks, plot.Tick{Value: nines(0.5), Label: "50%"})
	}
	return ticks
}
