package main

import (
	"reflect"
	"slices"
	"strconv"
)

// Result is one measurement: one idle or churn run, or one rate step of a
// fanout, channels or slow run. Fields that do not apply to the scenario
// are zero and left out of the JSON. Times are in the unit their name
// says.
type Result struct {
	Scenario  string `json:"scenario"`
	System    string `json:"system"`
	Transport string `json:"transport"`
	Clients   int    `json:"clients"`
	// Run is the repetition (1, 2, …); 0 marks the median of the runs.
	Run int `json:"run"`
	// Shape (personal or fanout) and Nodes (1, or 3 through Redis) mark
	// the results of the cluster scenario; RedisMasters is 3 when the
	// nodes shared a Redis Cluster (0: one redis-server).
	Shape        string `json:"shape,omitempty"`
	Nodes        int    `json:"nodes,omitempty"`
	RedisMasters int    `json:"redis_masters,omitempty"`
	// Procs are the figures of each server-side process (cluster
	// scenario); ServerCPUs and ClientCPUs are the CPUs the servers and
	// csbench were pinned to ("" for the servers: not pinned).
	Procs      []ProcFigure `json:"procs,omitempty"`
	ServerCPUs string       `json:"server_cpus,omitempty"`
	ClientCPUs string       `json:"client_cpus,omitempty"`

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
	// Latency is the distribution of the measured latencies (fanout,
	// channels, slow) or connect times (churn).
	Latency []LatencyPoint `json:"latency,omitempty"`

	// channels
	Channels  int64 `json:"channels,omitempty"`
	GroupSize int64 `json:"group_size,omitempty"`

	// slow (the step with stalled subscribers); the RSS samples are taken
	// during every publishing step
	Stalled             int64 `json:"stalled,omitempty"`
	StalledDisconnected int64 `json:"stalled_disconnected,omitempty"`
	// StallDisconnectSeconds is when, from the stall, the server's own
	// count of attached connections fell to the healthy ones (0: never
	// seen, or the server does not say).
	StallDisconnectSeconds float64 `json:"stall_disconnect_seconds,omitempty"`
	RSSStartKiB            int64   `json:"rss_start_kib,omitempty"`
	RSSMaxKiB              int64   `json:"rss_max_kib,omitempty"`

	// churn
	ChurnRate                 float64 `json:"churn_rate_per_s,omitempty"`
	LifetimeSeconds           float64 `json:"lifetime_seconds,omitempty"`
	Connects                  int64   `json:"connects,omitempty"`
	ConnectFailures           int64   `json:"connect_failures,omitempty"`
	NotStarted                int64   `json:"not_started,omitempty"`
	Disconnects               int64   `json:"disconnects,omitempty"`
	ConnectsPerSec            float64 `json:"connects_per_s,omitempty"`
	DisconnectsPerSec         float64 `json:"disconnects_per_s,omitempty"`
	ConnP50ms                 float64 `json:"connect_p50_ms,omitempty"`
	ConnP99ms                 float64 `json:"connect_p99_ms,omitempty"`
	ConnMaxms                 float64 `json:"connect_max_ms,omitempty"`
	ServerCPUMicrosPerConnect float64 `json:"server_cpu_us_per_connect,omitempty"`
	// Before and after the churn (after: once the server came back to its
	// connection count, or LeakWait passed); -1 where unknown.
	GoroutinesBefore  int64   `json:"goroutines_before,omitempty"`
	GoroutinesAfter   int64   `json:"goroutines_after,omitempty"`
	FDsBefore         int64   `json:"fds_before,omitempty"`
	FDsAfter          int64   `json:"fds_after,omitempty"`
	ConnsBefore       int64   `json:"server_conns_before,omitempty"`
	ConnsAfter        int64   `json:"server_conns_after,omitempty"`
	LeakSettleSeconds float64 `json:"leak_settle_seconds,omitempty"`
	LeakUnsettled     int64   `json:"leak_unsettled,omitempty"` // 1: LeakWait passed first

	Error string `json:"error,omitempty"`
}

// LatencyPoint is one point of a latency distribution: the latency at
// quantile Q.
type LatencyPoint struct {
	Q  float64 `json:"q"`
	Ms float64 `json:"ms"`
}

// latencyQuantiles are the points kept of every distribution: dense up to
// the median, then by tenths of the remaining tail (0.9, 0.99, 0.999, …).
var latencyQuantiles = []float64{0, 0.1, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 0.99999, 1}

// latencyPoints samples h (nanoseconds) at latencyQuantiles; nil when h is
// empty.
func latencyPoints(h *Histogram) []LatencyPoint {
	if h.Count() == 0 {
		return nil
	}
	pts := make([]LatencyPoint, 0, len(latencyQuantiles))
	for _, q := range latencyQuantiles {
		v := h.Quantile(q)
		if q == 0 {
			v = h.Min()
		}
		pts = append(pts, LatencyPoint{Q: q, Ms: float64(v) / 1e6})
	}
	return pts
}

// key groups the repetitions of one measurement.
func (r Result) key() string {
	return r.Scenario + "/" + r.Shape + "/" + itoa(r.Nodes) + "/" + r.System + "/" + r.Transport + "/" + itoa(r.Clients) + "/" + ftoa(r.Rate) + "/" + ftoa(r.ChurnRate) + "/" + strconv.FormatInt(r.Stalled, 10)
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
		m.Latency = medianLatency(g)
		m.Procs = medianProcs(g)
		out = append(out, m)
	}
	return out
}

// medianLatency returns the pointwise median of the runs' latency
// distributions (nil unless every run has the same points).
func medianLatency(g []Result) []LatencyPoint {
	pts := slices.Clone(g[0].Latency)
	for i := range pts {
		vals := make([]float64, 0, len(g))
		for _, r := range g {
			if len(r.Latency) != len(pts) || r.Latency[i].Q != pts[i].Q {
				return nil
			}
			vals = append(vals, r.Latency[i].Ms)
		}
		pts[i].Ms = median(vals)
	}
	return pts
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
