package controller

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
)

// DocsFile serves one file of the embedded API reference (api.Docs) from the
// binary's embedded data as it is: nothing is copied to the heap, so the
// reference (a few megabytes of scripts) costs memory only while a client
// reads it. The assets carry no version in their names, so clients
// revalidate them (no-cache) rather than keep stale copies.
func DocsFile(files fs.FS, name string) echo.HandlerFunc {
	ctype, err := docsType(files, name)
	if err != nil {
		failed := errs.Internal(err)
		return func(echo.Context) error { return failed }
	}
	return func(c echo.Context) error {
		f, err := files.Open(name)
		if err != nil {
			return errs.Internal(err)
		}
		defer func() { _ = f.Close() }()
		content, ok := f.(io.ReadSeeker)
		if !ok {
			return errs.Internal(fmt.Errorf("docs: the embedded %s cannot seek", name))
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(c.Response(), c.Request(), name, time.Time{}, content)
		return nil
	}
}

// docsType is the Content-Type of an asset: fixed for the known extensions,
// else sniffed from its first 512 bytes.
func docsType(files fs.FS, name string) (string, error) {
	f, err := files.Open(name)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	if ctype, ok := docsTypes[path.Ext(name)]; ok {
		return ctype, nil
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	return http.DetectContentType(head[:n]), nil
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
