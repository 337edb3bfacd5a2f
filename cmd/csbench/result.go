package main

import (
	"reflect"
	"slices"
)

// Result is one measurement: one idle run, or one rate step of a fanout
// run. Fields that do not apply to the scenario are zero and left out of
// the JSON. Times are in the unit their name says.
type Result struct {
	Scenario  string `json:"scenario"`
	Adapter   string `json:"adapter"`
	Transport string `json:"transport"`
	Clients   int    `json:"clients"`
	// Run is the repetition (1, 2, …); 0 marks the median of the runs.
	Run int `json:"run"`

	ConnectSeconds float64 `json:"connect_seconds"`
	Dropped        int64   `json:"dropped_subscribers"` // streams that ended before the end
	ServerWarnings int64   `json:"server_warnings"`
	ServerCPUPct   float64 `json:"server_cpu_percent"` // over the measured window
	ClientCPUPct   float64 `json:"client_cpu_percent"` // csbench itself, same window
	// OtherCPUPct is every other process on the machine, same window: a
	// clean measurement keeps it near 0.
	OtherCPUPct float64 `json:"other_cpu_percent"`
	// ServerWaitPct and ClientWaitPct are the time the server's and
	// csbench's threads waited, runnable, for a CPU (percent of the
	// window, summed over threads): high values mean a contended machine.
	ServerWaitPct float64 `json:"server_runqueue_wait_percent"`
	ClientWaitPct float64 `json:"client_runqueue_wait_percent"`

	// idle (RSSAfterKiB and PeakRSSKiB also for fanout: after each step)
	RSSBeforeKiB         int64   `json:"rss_before_kib,omitempty"`
	RSSAfterKiB          int64   `json:"rss_after_kib,omitempty"`
	PeakRSSKiB           int64   `json:"peak_rss_kib,omitempty"`
	KiBPerConn           float64 `json:"kib_per_conn,omitempty"`
	CPUMicrosPerSecConn  float64 `json:"cpu_us_per_s_per_conn,omitempty"`
	WindowSeconds        float64 `json:"window_seconds,omitempty"`
	ServerCPUSecondsIdle float64 `json:"server_cpu_seconds,omitempty"`

	// fanout
	Rate            float64 `json:"rate_msgs_per_s,omitempty"` // publishes per second
	Messages        int64   `json:"messages,omitempty"`        // measured publishes
	OfferedPerSec   float64 `json:"offered_deliveries_per_s,omitempty"`
	DeliveredPerSec float64 `json:"delivered_deliveries_per_s,omitempty"`
	Deliveries      int64   `json:"deliveries,omitempty"`
	P50ms           float64 `json:"p50_ms,omitempty"`
	P99ms           float64 `json:"p99_ms,omitempty"`
	P999ms          float64 `json:"p999_ms,omitempty"`
	Maxms           float64 `json:"max_ms,omitempty"`
	Lost            int64   `json:"lost"`
	Duplicated      int64   `json:"duplicated"`
	Unexpected      int64   `json:"unexpected,omitempty"`
	PublishErrors   int64   `json:"publish_errors"`
	SlowDisconnects int64   `json:"slow_disconnects"`
	Frames          int64   `json:"frames,omitempty"` // transport frames carrying messages (all steps)

	Error string `json:"error,omitempty"`
}

// key groups the repetitions of one measurement.
func (r Result) key() string {
	return r.Scenario + "/" + r.Adapter + "/" + r.Transport + "/" + itoa(r.Clients) + "/" + ftoa(r.Rate)
}

// medians returns, for each group of repetitions in rs (in order of first
// appearance), a Result with Run 0 holding the median of every numeric
// field. Groups with one run are left out.
func medians(rs []Result) []Result {
	var order []string
	groups := map[string][]Result{}
	for _, r := range rs {
		if r.Run == 0 || r.Error != "" {
			continue
		}
		k := r.key()
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []Result
	for _, k := range order {
		g := groups[k]
		if len(g) < 2 {
			continue
		}
		m := g[0]
		m.Run = 0
		mv := reflect.ValueOf(&m).Elem()
		for f := range mv.NumField() {
			switch mv.Field(f).Kind() {
			case reflect.Float64:
				vals := make([]float64, len(g))
				for i := range g {
					vals[i] = reflect.ValueOf(g[i]).Field(f).Float()
				}
				mv.Field(f).SetFloat(median(vals))
			case reflect.Int64:
				vals := make([]float64, len(g))
				for i := range g {
					vals[i] = float64(reflect.ValueOf(g[i]).Field(f).Int())
				}
				mv.Field(f).SetInt(int64(median(vals)))
			}
		}
		out = append(out, m)
	}
	return out
}

// median returns the middle value (the mean of the two middle ones for an
// even count).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// setCPU fills the CPU shares of a measured window.
func (r *Result) setCPU(w cpuWindow) {
	r.ServerCPUPct, r.ClientCPUPct, r.OtherCPUPct = w.pct(w.Server), w.pct(w.Self), w.pct(w.Other)
	r.ServerWaitPct, r.ClientWaitPct = w.pct(w.ServerWait), w.pct(w.SelfWait)
}
