package web

import (
	"io/fs"
	"strings"
	"testing"
)

func TestStaticHasTheAdminPage(t *testing.T) {
	admin, err := fs.Sub(Static(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"index.html", "admin.js", "admin.css",
		"vendor/uplot/uPlot.iife.min.js", "vendor/uplot/uPlot.min.css", "vendor/uplot/LICENSE", "vendor/uplot/README.md"} {
		b, err := fs.ReadFile(admin, name)
		if err != nil || len(b) == 0 {
			t.Errorf("admin/%s: %v (%d bytes)", name, err, len(b))
		}
	}
	page, _ := fs.ReadFile(admin, "index.html")
	for _, ref := range []string{`src="static/admin/admin.js"`, `src="static/admin/vendor/uplot/uPlot.iife.min.js"`, `href="admin/sign_out"`, `href="api-explorer"`} {
		if !strings.Contains(string(page), ref) {
			t.Errorf("index.html lacks %s (its URLs are relative to /admin)", ref)
		}
	}
}

func TestStaticHasTheAPIExplorer(t *testing.T) {
	admin, err := fs.Sub(Static(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"explorer.html", "explorer.js", "explorer.css",
		"vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css", "vendor/swagger-ui/LICENSE",
		"vendor/swagger-ui/NOTICE", "vendor/swagger-ui/README.md"} {
		b, err := fs.ReadFile(admin, name)
		if err != nil || len(b) == 0 {
			t.Errorf("admin/%s: %v (%d bytes)", name, err, len(b))
		}
	}
	page, _ := fs.ReadFile(admin, "explorer.html")
	for _, ref := range []string{`src="static/admin/explorer.js"`, `src="static/admin/vendor/swagger-ui/swagger-ui-bundle.js"`,
		`href="static/admin/vendor/swagger-ui/swagger-ui.css"`} {
		if !strings.Contains(string(page), ref) {
			t.Errorf("explorer.html lacks %s (its URLs are relative to /api-explorer)", ref)
		}
	}
}
