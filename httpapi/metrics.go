package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/channelstream-go/channelstream-go/core"
)

// WriteLatencyBuckets are the upper bounds, in seconds, of the
// publish→write latency histogram: 100 µs to 10 s. Frames that waited
// for a client to come back land in +Inf.
var WriteLatencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewWriteLatency returns the histogram channelstream_publish_write_latency_seconds.
// Feed it from core.Config.ObserveWrite (d.Seconds()) and pass it to
// Config.WriteLatency so that GET /metrics serves it.
func NewWriteLatency() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "channelstream_publish_write_latency_seconds",
		Help:    "Time from a frame's encoding (publish, presence or state change) to the end of the transport write that carried it to a client, per frame written.",
		Buckets: WriteLatencyBuckets,
	})
}

// hubCollector reads the hub's counters and gauges, and the attached
// transports, when Prometheus scrapes: nothing is recorded per event.
type hubCollector struct {
	hub        *core.Hub
	transports func() map[string]int // nil: no by-transport series

	published, delivered, written, dropped, slow, gc, brokerErrors *prometheus.Desc
	conns, attached, users, remembered, channels                   *prometheus.Desc
	queued, queuedMax, retained, retainedBytes                     *prometheus.Desc
}

func newHubCollector(hub *core.Hub, transports func() map[string]int) *hubCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("channelstream_"+name, help, labels, nil)
	}
	return &hubCollector{
		hub:           hub,
		transports:    transports,
		published:     d("messages_published_total", "Messages sent through the API (edits and deletes not counted); admin.json total_unique_messages."),
		delivered:     d("messages_delivered_total", "Deliveries of published messages (sends, edits, deletes) queued to connections; admin.json total_messages."),
		written:       d("frames_written_total", "Frames of every kind that transports wrote to their clients."),
		dropped:       d("frames_dropped_total", "Frames evicted from a full connection queue before any transport took them."),
		slow:          d("slow_consumer_disconnects_total", "Transports ended because their client did not keep up with its queue."),
		gc:            d("gc_removals_total", "Connections (kind=connection), users (kind=user) and channels (kind=channel) removed by the collector after inactivity.", "kind"),
		brokerErrors:  d("broker_errors_total", "Failed calls to the cluster broker or store (always 0 in memory)."),
		conns:         d("connections", "Connections the hub holds, with a transport attached or not."),
		attached:      d("connections_attached", "Connections with a transport attached now, by transport (longpoll: polls waiting).", "transport"),
		users:         d("users", "Users with at least one connection."),
		remembered:    d("users_remembered", "Users the hub remembers, with or without a connection."),
		channels:      d("channels", "Channels the hub holds."),
		queued:        d("queued_frames", "Frames waiting in connection queues that no transport has taken yet."),
		queuedMax:     d("queued_frames_max", "The most frames waiting in a single connection's queue."),
		retained:      d("retained_frames", "Frames held in connection queues, taken or not (taken ones are kept for resume)."),
		retainedBytes: d("retained_bytes", "Encoded bytes of the frames held in connection queues."),
	}
}

// Describe sends every series' description.
func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.published, c.delivered, c.written, c.dropped, c.slow, c.gc, c.brokerErrors,
		c.conns, c.attached, c.users, c.remembered, c.channels, c.queued, c.queuedMax, c.retained, c.retainedBytes} {
		ch <- d
	}
}

// Collect reads the hub at scrape time.
func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	st := c.hub.Stats()
	counter(c.published, st.TotalUniqueMessages.Load())
	counter(c.delivered, st.TotalMessages.Load())
	counter(c.written, st.FramesWritten.Load())
	counter(c.dropped, st.FramesDropped.Load())
	counter(c.slow, st.SlowDisconnects.Load())
	counter(c.gc, st.CollectedConns.Load(), "connection")
	counter(c.gc, st.CollectedUsers.Load(), "user")
	counter(c.gc, st.CollectedChannels.Load(), "channel")
	counter(c.brokerErrors, st.BrokerErrors.Load())

	g := c.hub.Gauges()
	gauge(c.conns, g.Conns)
	gauge(c.users, g.ConnectedUsers)
	gauge(c.remembered, g.Users)
	gauge(c.channels, g.Channels)
	gauge(c.queued, g.QueuedFrames)
	gauge(c.queuedMax, g.MaxQueuedFrames)
	gauge(c.retained, g.RetainedFrames)
	gauge(c.retainedBytes, g.RetainedBytes)
	if c.transports != nil {
		for name, n := range c.transports() {
			gauge(c.attached, n, name)
		}
	}
}

// newMetricsHandler registers the node's collectors on reg (a new registry
// when nil) and returns the promhttp handler that serves it.
func newMetricsHandler(cfg Config) (http.Handler, error) {
	reg := cfg.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	for _, c := range cs {
		// The caller may have registered the runtime collectors already.
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return nil, fmt.Errorf("register runtime metrics: %w", err)
		}
	}
	if err := reg.Register(newHubCollector(cfg.Hub, cfg.TransportCounts)); err != nil {
		return nil, fmt.Errorf("register hub metrics: %w", err)
	}
	if err := reg.Register(buildInfoGauge(cfg.Build)); err != nil {
		return nil, fmt.Errorf("register build info: %w", err)
	}
	if cfg.WriteLatency != nil {
		if err := reg.Register(cfg.WriteLatency); err != nil {
			return nil, fmt.Errorf("register write latency: %w", err)
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}), nil
}

// metrics serves GET /metrics to the addresses of allow_posting_from. No
// signature is needed (Prometheus cannot sign); a valid one is accepted, a
// bad one gets 401 like on every API route.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	ip, err := s.clientIP.FromRequest(r)
	if err != nil || !s.allow.Allows(ip) {
		writeForbidden(w)
		return
	}
	s.metricsHandler.ServeHTTP(w, r)
}
