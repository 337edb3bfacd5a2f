package main

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

// demoBrowserTimeout bounds the whole browser run: three transports, two
// people each.
const demoBrowserTimeout = 150 * time.Second

// demoBrowserResult is what web/test/demo.mjs prints.
type demoBrowserResult struct {
	OK        bool     `json:"ok"`
	Problems  []string `json:"problems"`
	Browser   string   `json:"browser"`
	ElapsedMs int64    `json:"elapsedMs"`
	Console   []string `json:"console"`
	Runs      map[string]struct {
		Steps             []string `json:"steps"`
		Screenshot        string   `json:"screenshot"`
		FailureScreenshot string   `json:"failureScreenshot"`
		Error             string   `json:"error"`
		ElapsedMs         int64    `json:"elapsedMs"`
	} `json:"runs"`
}

// TestDemoBrowserChat has two people chat through the demo page in
// headless Chromium, on WebSocket, SSE and long-poll in turn; the
// screenshots (demo-<transport>.png) go to the test's artifact directory
// (kept with go test -artifacts).
func TestDemoBrowserChat(t *testing.T) {
	node, webDir := browserTools(t)
	tg := startGateway(t, func(c *Config) {
		c.Demo = true
		c.HeartbeatInterval = time.Second
		c.LongpollTimeout = 2 * time.Second
		c.LongpollGather = 20 * time.Millisecond
	})
	outDir := t.ArtifactDir()
	transports := []string{"websocket", "sse", "longpoll"}
	cfg, err := json.Marshal(map[string]any{
		"url":        tg.URL,
		"transports": transports,
		"outDir":     outDir,
		"timeoutMs":  (demoBrowserTimeout - 10*time.Second).Milliseconds(),
	})
	if err != nil {
		t.Fatal(err)
	}
	stdout, runErr := browserRunScript(t, node, webDir, "demo.mjs", "CS_DEMO_CONFIG", cfg, demoBrowserTimeout)
	var res demoBrowserResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("demo.mjs printed no JSON result (%v): %s", err, stdout)
	}
	t.Logf("browser %s, %d ms, screenshots in %s", res.Browser, res.ElapsedMs, outDir)
	for _, line := range res.Console {
		t.Logf("console %s", line)
	}
	for _, p := range res.Problems {
		t.Errorf("page: %s", p)
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			run, ok := res.Runs[tr]
			if !ok {
				t.Fatal("no run")
			}
			for _, s := range run.Steps {
				t.Logf("ok: %s", s)
			}
			if run.Error != "" {
				t.Errorf("failed: %s (screenshot %s)", run.Error, run.FailureScreenshot)
				return
			}
			if st, err := os.Stat(run.Screenshot); err != nil || st.Size() == 0 {
				t.Errorf("screenshot %q: %v", run.Screenshot, err)
			}
			t.Logf("%d ms, screenshot %s", run.ElapsedMs, run.Screenshot)
		})
	}
	if runErr != nil && !t.Failed() {
		t.Errorf("demo.mjs: %v", runErr)
	}
	// The chat ran on the demo's own hub: the application's saw nothing.
	if a := tg.g.hub.Admin(t.Context()); a.RememberedUserCount != 0 || a.TotalChannels != 0 || a.TotalUniqueMessages != 0 {
		t.Errorf("the application's hub got %d users, %d channels, %d messages from the demo",
			a.RememberedUserCount, a.TotalChannels, a.TotalUniqueMessages)
	}
	if a := tg.g.demo.hub.Admin(t.Context()); a.TotalUniqueMessages == 0 {
		t.Error("the demo's hub carried no message")
	}
}
