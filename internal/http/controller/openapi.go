package controller

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
)

// OpenAPI serves the OpenAPI document of the HTTP API (api/openapi.yaml as
// JSON). doc converts it on the first request and keeps the result, so a
// process nobody asks for its document never holds the JSON; a failed
// conversion answers 500 with the reason.
func OpenAPI(doc func() ([]byte, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		data, err := doc()
		if err != nil {
			return errs.Internal(err)
		}
		c.Response().Header().Set("Cache-Control", "no-cache")
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, data)
	}
}
