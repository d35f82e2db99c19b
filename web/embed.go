// Package web is the DPC web app the hub serves to browsers (phones
// first): plain JavaScript modules under src/, bundled by esbuild into
// dist/ (`make web`), which is committed so that the Go build embeds it and
// needs no npm. See docs/ARCHITECTURE.md, "The web app".
package web

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Files are the app's static files: index.html at the root.
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path, embedded above
	}
	return sub
}
