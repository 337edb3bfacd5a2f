package httpapi

import (
	"bytes"
	"net/http"
	"sort"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/channelstream-go/channelstream-go/core"
)

// scrape is one parsed answer of GET /metrics.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics gets /metrics with extra headers, requires want and parses
// a 200 answer.
func (a *apiT) scrapeMetrics(want int, hdr map[string]string) (scrape, []byte) {
	a.t.Helper()
	code, h, body := a.raw("GET", "/metrics", "", hdr)
	status(a.t, code, want, body)
	if code != http.StatusOK {
		return nil, body
	}
	if ct := h.Get("Content-Type"); !bytes.HasPrefix([]byte(ct), []byte("text/plain")) {
		a.t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		a.t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams, body
}

// value is the value of the series name{labels} (counter, gauge, or a
// histogram's sample count); it fails when the series is absent.
func (s scrape) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	fam := s[name]
	if fam == nil {
		t.Fatalf("series %s is missing", name)
	}
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("series %s%v is missing", name, labels)
	return 0
}

func hasLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == kv[i] && l.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// metricsAPI is an API whose hub feeds a latency histogram, with a fake
// hub clock for the collector and 127.0.0.1 as a trusted proxy, so that
// X-Forwarded-For can play a client outside the allow-list.
func metricsAPI(t *testing.T) (*apiT, *fakeClock) {
	clk := &fakeClock{t: time.Now()}
	lat := NewWriteLatency()
	a := newAPI(t, func(c *Config, hc *core.Config) {
		c.AllowPostingFrom = []string{"127.0.0.1", "198.51.100.0/24"}
		c.TrustedProxies = []string{"127.0.0.1"}
		c.WriteLatency = lat
		c.TransportCounts = func() map[string]int { return map[string]int{"websocket": 2, "sse": 1, "longpoll": 0} }
		hc.ObserveWrite = func(d time.Duration) { lat.Observe(d.Seconds()) }
		hc.QueueFrames = 2
		hc.ConnTimeout = time.Minute
		hc.Now = clk.Now
	})
	return a, clk
}

// publish posts one message to "room".
func (a *apiT) publish(n int) {
	a.t.Helper()
	code, b := a.call("POST", "/message", []map[string]any{{"user": "sys", "channel": "room", "message": map[string]any{"n": n}}})
	status(a.t, code, http.StatusOK, b)
}

func TestMetricsSeries(t *testing.T) {
	a, _ := metricsAPI(t)
	s, _ := a.scrapeMetrics(http.StatusOK, nil)
	want := map[string]dto.MetricType{
		"channelstream_messages_published_total":        dto.MetricType_COUNTER,
		"channelstream_messages_delivered_total":        dto.MetricType_COUNTER,
		"channelstream_frames_written_total":            dto.MetricType_COUNTER,
		"channelstream_frames_dropped_total":            dto.MetricType_COUNTER,
		"channelstream_slow_consumer_disconnects_total": dto.MetricType_COUNTER,
		"channelstream_gc_removals_total":               dto.MetricType_COUNTER,
		"channelstream_broker_errors_total":             dto.MetricType_COUNTER,
		"channelstream_connections":                     dto.MetricType_GAUGE,
		"channelstream_connections_attached":            dto.MetricType_GAUGE,
		"channelstream_users":                           dto.MetricType_GAUGE,
		"channelstream_users_remembered":                dto.MetricType_GAUGE,
		"channelstream_channels":                        dto.MetricType_GAUGE,
		"channelstream_queued_frames":                   dto.MetricType_GAUGE,
		"channelstream_queued_frames_max":               dto.MetricType_GAUGE,
		"channelstream_retained_frames":                 dto.MetricType_GAUGE,
		"channelstream_retained_bytes":                  dto.MetricType_GAUGE,
		"channelstream_publish_write_latency_seconds":   dto.MetricType_HISTOGRAM,
		"go_goroutines":                                 dto.MetricType_GAUGE,
		"process_start_time_seconds":                    dto.MetricType_GAUGE,
	}
	var names []string
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name+" is served with help and type", func(t *testing.T) {
			fam := s[name]
			if fam == nil {
				t.Fatalf("missing")
			}
			if fam.GetType() != want[name] || fam.GetHelp() == "" {
				t.Errorf("type %v help %q, want type %v", fam.GetType(), fam.GetHelp(), want[name])
			}
		})
	}
	t.Run("connections by transport carry a transport label", func(t *testing.T) {
		for tr, n := range map[string]float64{"websocket": 2, "sse": 1, "longpoll": 0} {
			if got := s.value(t, "channelstream_connections_attached", "transport", tr); got != n {
				t.Errorf("%s: %v, want %v", tr, got, n)
			}
		}
	})
}

func TestMetricsMove(t *testing.T) {
	a, clk := metricsAPI(t)
	before, _ := a.scrapeMetrics(http.StatusOK, nil)
	delta := func(t *testing.T, after scrape, name string, want float64, labels ...string) {
		t.Helper()
		if got := after.value(t, name, labels...) - before.value(t, name, labels...); got != want {
			t.Errorf("%s%v moved by %v, want %v", name, labels, got, want)
		}
	}

	alice := a.attach(a.connect("alice", "room"))
	a.connect("bob", "room")
	a.publish(1)

	t.Run("connect and publish move the gauges and counters", func(t *testing.T) {
		after, _ := a.scrapeMetrics(http.StatusOK, nil)
		delta(t, after, "channelstream_connections", 2)
		delta(t, after, "channelstream_users", 2)
		delta(t, after, "channelstream_users_remembered", 2)
		delta(t, after, "channelstream_channels", 1)
		delta(t, after, "channelstream_messages_published_total", 1)
		delta(t, after, "channelstream_messages_delivered_total", 2)
		delta(t, after, "channelstream_queued_frames", 2)
		delta(t, after, "channelstream_queued_frames_max", 1)
		delta(t, after, "channelstream_retained_frames", 2)
		if after.value(t, "channelstream_retained_bytes") <= 0 {
			t.Error("retained_bytes did not grow")
		}
	})

	t.Run("a frame written moves frames_written and the latency histogram", func(t *testing.T) {
		alice.wait(1)
		alice.s.Written()
		after, _ := a.scrapeMetrics(http.StatusOK, nil)
		delta(t, after, "channelstream_frames_written_total", 1)
		delta(t, after, "channelstream_publish_write_latency_seconds", 1)
		delta(t, after, "channelstream_queued_frames", 1) // bob's
	})

	t.Run("overflowing queues count dropped frames and a slow consumer", func(t *testing.T) {
		// The queues hold 2 frames. Alice took the first one (kept for
		// resume, evicted silently); bob took nothing.
		for range 3 {
			a.publish(2)
		}
		after, _ := a.scrapeMetrics(http.StatusOK, nil)
		delta(t, after, "channelstream_frames_dropped_total", 3) // bob's first two, alice's second
		delta(t, after, "channelstream_slow_consumer_disconnects_total", 1)
	})

	t.Run("the collector's removals are counted", func(t *testing.T) {
		clk.advance(2 * time.Minute)
		if n := a.hub.Collect(); n != 2 {
			t.Fatalf("Collect() = %d", n)
		}
		after, _ := a.scrapeMetrics(http.StatusOK, nil)
		delta(t, after, "channelstream_gc_removals_total", 2, "kind", "connection")
		delta(t, after, "channelstream_connections", 0)
		// Their channel, empty and without history, goes conn_timeout later.
		clk.advance(2 * time.Minute)
		a.hub.Collect()
		after, _ = a.scrapeMetrics(http.StatusOK, nil)
		delta(t, after, "channelstream_gc_removals_total", 1, "kind", "channel")
		delta(t, after, "channelstream_channels", 0)
	})
}

func TestMetricsAccess(t *testing.T) {
	a, _ := metricsAPI(t)
	t.Run("an address outside allow_posting_from gets 403 with upstream's body", func(t *testing.T) {
		_, body := a.scrapeMetrics(http.StatusForbidden, map[string]string{"X-Forwarded-For": "203.0.113.7"})
		jsonEq(t, body, `{"message": "Access was denied to this resource.\n\n\n\n\n", "code": "403 Forbidden", "title": "Forbidden"}`)
	})
	t.Run("a refused address is refused even with a valid signature", func(t *testing.T) {
		a.scrapeMetrics(http.StatusForbidden, map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Channelstream-Secret": a.token()})
	})
	t.Run("an allowed address needs no signature", func(t *testing.T) {
		a.scrapeMetrics(http.StatusOK, nil)
	})
	t.Run("an allowed address through the trusted proxy is served", func(t *testing.T) {
		a.scrapeMetrics(http.StatusOK, map[string]string{"X-Forwarded-For": "198.51.100.9"})
	})
	t.Run("a valid signature is accepted", func(t *testing.T) {
		a.scrapeMetrics(http.StatusOK, map[string]string{"X-Channelstream-Secret": a.token()})
	})
	t.Run("a bad signature gets 401 as on every API route", func(t *testing.T) {
		a.scrapeMetrics(http.StatusUnauthorized, map[string]string{"X-Channelstream-Secret": "bad.token.sig"})
	})
}

func TestMetricsRegistry(t *testing.T) {
	t.Run("two servers keep their own registries", func(t *testing.T) {
		newAPI(t, nil)
		newAPI(t, nil)
	})
	t.Run("without WriteLatency the histogram is absent", func(t *testing.T) {
		a := newAPI(t, nil)
		s, _ := a.scrapeMetrics(http.StatusOK, nil)
		if s["channelstream_publish_write_latency_seconds"] != nil || s["channelstream_connections_attached"] != nil {
			t.Error("latency or transport series served without their sources")
		}
	})
}

func TestMetricsBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		build  Build
		labels []string
	}{
		{"unknown build is dev", Build{}, []string{"version", "dev", "revision", "", "modified", "false"}},
		{"version and revision as labels", Build{Version: "v1.2.3", Revision: "0123456789abcdef0123", Modified: true},
			[]string{"version", "v1.2.3", "revision", "0123456789abcdef0123", "modified", "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, func(c *Config, _ *core.Config) { c.Build = tc.build })
			s, _ := a.scrapeMetrics(http.StatusOK, nil)
			if v := s.value(t, "channelstream_build_info", tc.labels...); v != 1 {
				t.Fatalf("channelstream_build_info%v = %v, want 1", tc.labels, v)
			}
			if n := len(s["channelstream_build_info"].GetMetric()); n != 1 {
				t.Fatalf("%d build_info series, want 1", n)
			}
		})
	}
}
