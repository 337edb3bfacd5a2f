package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// scrapeTimeout bounds one GET /metrics.
const scrapeTimeout = 5 * time.Second

// serverStats is a snapshot of what a server holds: from /proc/<pid> and,
// where the server serves them, its Prometheus metrics. Unknown values are
// -1.
type serverStats struct {
	RSSKiB     int64 `json:"rss_kib"`
	FDs        int64 `json:"fds"`
	Threads    int64 `json:"threads"`
	Goroutines int64 `json:"goroutines"`
	Conns      int64 `json:"conns"`
	Attached   int64 `json:"attached"`
	Slow       int64 `json:"slow_disconnects"`
}

// stats reads the server's snapshot.
func (s *server) stats(ctx context.Context) serverStats {
	st := serverStats{RSSKiB: -1, FDs: -1, Threads: -1, Goroutines: -1, Conns: -1, Attached: -1, Slow: -1}
	if m, err := readMem(s.pid); err == nil {
		st.RSSKiB = m.RSSKiB
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid)); err == nil {
		st.FDs = int64(len(ents))
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", s.pid)); err == nil {
		st.Threads = int64(len(ents))
	}
	m := s.sys.metrics
	if m.goroutines == "" && m.conns == "" && m.slow == "" {
		return st
	}
	text, err := scrape(ctx, s.base+"/metrics")
	if err != nil {
		return st
	}
	st.Goroutines = metricValue(text, m.goroutines, nil)
	st.Conns = metricValue(text, m.conns, nil)
	st.Attached = metricValue(text, m.attached, nil)
	st.Slow = metricValue(text, m.slow, m.slowLabels)
	return st
}

// metricValue returns the sum of the samples of name with the labels want
// (see metricSum): 0 when the series is declared without a matching sample
// yet, -1 when the server does not have it.
func metricValue(text, name string, want []string) int64 {
	if v, ok := metricSum(text, name, want); ok {
		return int64(v)
	}
	if name != "" && strings.Contains(text, "# TYPE "+name+" ") {
		return 0
	}
	return -1
}

// scrape returns the Prometheus text at url.
func scrape(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// metricSum adds up the samples of the series name in the Prometheus text
// exposition text whose labels include every label="value" pair of want.
// It reports false when there is no such sample.
func metricSum(text, name string, want []string) (float64, bool) {
	if name == "" {
		return 0, false
	}
	sum, found := 0.0, false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		labels := ""
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer name with this prefix
		}
		ok := true
		for _, w := range want {
			ok = ok && containsLabel(labels, w)
		}
		f := strings.Fields(rest)
		if !ok || len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sum, found = sum+v, true
	}
	return sum, found
}

// containsLabel reports whether the label list (a="x",b="y") holds pair.
func containsLabel(labels, pair string) bool {
	for l := range strings.SplitSeq(labels, ",") {
		if strings.TrimSpace(l) == pair {
			return true
		}
	}
	return false
}
