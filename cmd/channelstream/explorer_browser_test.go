package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAPIExplorerBrowser: headless Chromium signs in, opens /api-explorer
// (Swagger UI) and makes one call with "Try it out", signed by a token the
// page gets from the server (web/test/explorer.mjs).
func TestAPIExplorerBrowser(t *testing.T) {
	node, webDir := browserTools(t)
	const secret = "explorer-api-secret-never-in-the-browser"
	tg := startGateway(t, func(c *Config) {
		c.Secret = secret
		c.AdminUser, c.AdminSecret = adminBrowserUser, adminBrowserPassword
		c.CookieSecret = "explorer-browser-test-cookie-secret"
	})
	adminBrowserCall(t, tg, "/channel_config", map[string]any{"news": map[string]any{"store_history": true}})
	shot := filepath.Join(t.ArtifactDir(), "api-explorer.png")
	const timeout = 90 * time.Second
	cfg, err := json.Marshal(map[string]any{
		"baseURL": tg.URL, "user": adminBrowserUser, "password": adminBrowserPassword,
		"secret": secret, "screenshot": shot, "timeoutMs": (timeout - 5*time.Second).Milliseconds(),
	})
	if err != nil {
		t.Fatal(err)
	}
	stdout, runErr := browserRunScript(t, node, webDir, "explorer.mjs", "CS_EXPLORER_CONFIG", cfg, timeout)
	var res struct {
		OK        bool     `json:"ok"`
		Problems  []string `json:"problems"`
		Steps     []string `json:"steps"`
		Browser   string   `json:"browser"`
		ElapsedMs int64    `json:"elapsedMs"`
		Console   []string `json:"console"`
	}
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("explorer.mjs printed no JSON result (%v): %s", err, stdout)
	}
	t.Logf("browser %s, page run %d ms", res.Browser, res.ElapsedMs)
	for _, s := range res.Steps {
		t.Logf("step %s", s)
	}
	for _, line := range res.Console {
		t.Logf("console %s", line)
	}
	for _, p := range res.Problems {
		t.Errorf("API explorer: %s", p)
	}
	if runErr != nil && !t.Failed() {
		t.Errorf("explorer.mjs: %v", runErr)
	}
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, len(png))
	}
}
