package web

import (
	"io/fs"
	"testing"
)

func TestStaticHasTheClientLibrary(t *testing.T) {
	b, err := fs.ReadFile(Static(), "channelstream.js")
	if err != nil || len(b) == 0 {
		t.Fatalf("channelstream.js: %v (%d bytes)", err, len(b))
	}
}
