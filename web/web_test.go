package web

import (
	"io/fs"
	"strings"
	"testing"
)

func TestStaticHasTheClientLibrary(t *testing.T) {
	b, err := fs.ReadFile(Static(), "channelstream.js")
	if err != nil || len(b) == 0 {
		t.Fatalf("channelstream.js: %v (%d bytes)", err, len(b))
	}
}

func TestStaticHasTheDemoChat(t *testing.T) {
	page, err := fs.ReadFile(Static(), "demo/index.html")
	if err != nil {
		t.Fatalf("demo/index.html: %v", err)
	}
	for _, name := range []string{"demo/demo.js", "demo/demo.css"} {
		if b, err := fs.ReadFile(Static(), name); err != nil || len(b) == 0 {
			t.Errorf("%s: %v (%d bytes)", name, err, len(b))
		}
	}
	for _, ref := range []string{`src="demo.js"`, `href="demo.css"`, `src="../static/channelstream.js"`} {
		if !strings.Contains(string(page), ref) {
			t.Errorf("demo/index.html does not load %s", ref)
		}
	}
}
