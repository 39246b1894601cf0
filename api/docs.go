package api

import (
	"embed"
	"io/fs"
)

// docsFiles is the interactive API reference served at /docs: Swagger UI
// from swagger-ui-dist (vendored by scripts/swagger-ui.sh, version in
// docs/VERSION, licence in docs/LICENSE and docs/NOTICE) and our own
// index.html and init.js, which point it at /openapi.json.
//
//go:embed docs
var docsFiles embed.FS

// Docs is the API reference's files, index.html at the root.
func Docs() fs.FS {
	sub, err := fs.Sub(docsFiles, "docs")
	if err != nil {
		panic(err) // "docs" is a valid path: cannot happen
	}
	return sub
}
