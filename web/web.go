// Package web holds everything browsers load, embedded in the binary: the
// client library (static/channelstream.js), the demo chat (static/demo/)
// and the admin page (static/admin/). It is plain files, served without a
// build step.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Static returns the files served under /static/, rooted at web/static.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic("web: embedded static directory is missing: " + err.Error())
	}
	return sub
}
