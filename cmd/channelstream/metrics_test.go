package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeGateway reads GET /metrics and returns name{labels} → value (a
// histogram as its _count and _sum series, as the text format names them).
func scrapeGateway(t *testing.T, tg *testGateway) map[string]float64 {
	t.Helper()
	resp, err := http.Get(tg.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, fam := range fams {
		for _, m := range fam.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
				out[key+"_sum"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func TestMetricsThroughTheGateway(t *testing.T) {
	tg := startGateway(t, nil)
	before := scrapeGateway(t, tg)
	for _, name := range []string{"channelstream_messages_delivered_total", "channelstream_publish_write_latency_seconds_count",
		"channelstream_connections_attached{transport=websocket}", "go_goroutines"} {
		if _, ok := before[name]; !ok {
			t.Fatalf("%s is missing before any traffic", name)
		}
	}

	id := tg.Connect("alice", "news")
	ws, _, err := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(tg.URL, "http")+"/ws?conn_id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	pollUntil(t, 5*time.Second, "websocket attached in /metrics", func() bool {
		return scrapeGateway(t, tg)["channelstream_connections_attached{transport=websocket}"] == 1
	})
	if code, b := tg.Call("POST", "/message", `{"user": "s", "channel": "news", "message": {"t": 1}}`); code != http.StatusOK {
		t.Fatalf("message: %d %s", code, b)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var frames []map[string]any
		if err := json.Unmarshal(b, &frames); err != nil {
			t.Fatalf("frame %s: %v", b, err)
		}
		if len(frames) > 0 {
			if len(frames) != 1 || frames[0]["type"] != "message" {
				t.Fatalf("got %s, want one message", b)
			}
			break
		}
	}

	t.Run("a WebSocket delivery is counted and observes one latency sample", func(t *testing.T) {
		var after map[string]float64
		pollUntil(t, 5*time.Second, "frames_written moves", func() bool {
			after = scrapeGateway(t, tg)
			return after["channelstream_frames_written_total"] > before["channelstream_frames_written_total"]
		})
		for name, want := range map[string]float64{
			"channelstream_messages_published_total":            1,
			"channelstream_messages_delivered_total":            1,
			"channelstream_frames_written_total":                1,
			"channelstream_publish_write_latency_seconds_count": 1,
			"channelstream_connections":                         1,
			"channelstream_users":                               1,
			"channelstream_channels":                            1,
		} {
			if got := after[name] - before[name]; got != want {
				t.Errorf("%s moved by %v, want %v", name, got, want)
			}
		}
		if sum := after["channelstream_publish_write_latency_seconds_sum"]; sum <= 0 || sum > 5 {
			t.Errorf("latency sum %v s, want a small positive value", sum)
		}
	})
}

func TestMetricsEveryTransportReportsWrites(t *testing.T) {
	tg := startGateway(t, nil)
	receive := map[string]func(t *testing.T, id string) []byte{
		"sse": func(t *testing.T, id string) []byte {
			resp, err := http.Get(tg.URL + "/sse?conn_id=" + id)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { resp.Body.Close() })
			tg.Call("POST", "/message", `{"user": "s", "channel": "sse", "message": {"t": 1}}`)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					return []byte(data)
				}
			}
			t.Fatalf("stream ended: %v", sc.Err())
			return nil
		},
		"longpoll": func(t *testing.T, id string) []byte {
			tg.Call("POST", "/message", `{"user": "s", "channel": "longpoll", "message": {"t": 1}}`)
			resp, err := http.Get(tg.URL + "/listen?conn_id=" + id)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return b
		},
	}
	for _, tr := range []string{"sse", "longpoll"} {
		t.Run(tr+" reports its written frames and their latency", func(t *testing.T) {
			before := scrapeGateway(t, tg)
			id := tg.Connect("user-"+tr, tr) // a channel of its own
			b := receive[tr](t, id)
			var frames []map[string]any
			if err := json.Unmarshal(b, &frames); err != nil || len(frames) != 1 {
				t.Fatalf("got %s (%v), want one frame", b, err)
			}
			pollUntil(t, 5*time.Second, "frames_written moves", func() bool {
				after := scrapeGateway(t, tg)
				return after["channelstream_frames_written_total"]-before["channelstream_frames_written_total"] == 1 &&
					after["channelstream_publish_write_latency_seconds_count"]-before["channelstream_publish_write_latency_seconds_count"] == 1
			})
		})
	}
}
