package controller

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
)

// OpenAPI serves the OpenAPI document of the HTTP API (api/openapi.yaml,
// converted to JSON once at startup). err is the conversion's failure, which
// every request then answers as 500.
func OpenAPI(doc []byte, err error) echo.HandlerFunc {
	if err != nil {
		failed := errs.Internal(err)
		return func(echo.Context) error { return failed }
	}
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-cache")
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, doc)
	}
}
