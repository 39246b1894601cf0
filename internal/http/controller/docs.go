package controller

import (
	"io/fs"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
)

// DocsFile serves one file of the embedded API reference (api.Docs), read
// once when the route is built. The assets carry no version in their names,
// so clients revalidate them (no-cache) rather than keep stale copies.
func DocsFile(files fs.FS, name string) echo.HandlerFunc {
	data, err := fs.ReadFile(files, name)
	if err != nil {
		failed := errs.Internal(err)
		return func(echo.Context) error { return failed }
	}
	ctype, ok := docsTypes[path.Ext(name)]
	if !ok {
		ctype = http.DetectContentType(data)
	}
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		return c.Blob(http.StatusOK, ctype, data)
	}
}

// docsTypes fixes the types of the assets rather than take the host's MIME
// tables, which differ between machines.
var docsTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".png":  "image/png",
	".txt":  "text/plain; charset=utf-8",
}
