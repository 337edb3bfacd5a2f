package main

import (
	"encoding/json"
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
	runBrowserPage(t, node, webDir, "explorer.mjs", "CS_EXPLORER_CONFIG", "API explorer", cfg, timeout, shot)
}
