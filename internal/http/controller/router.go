package controller

import (
	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/http/render"
)

// Router registers a route under its operation name; the operation is shared
// with the gRPC method of the same use case, so both transports share
// limits, breakers, spans and metrics.
type Router interface {
	// Handle registers h for method and path. query names the query
	// parameters h reads (Many for one that may repeat); a request with
	// any other, or with a malformed query string, is refused before h
	// runs (OnlyQuery). api/openapi.yaml documents the same parameters.
	Handle(method, path, operation string, h echo.HandlerFunc, query ...string)
}

// bind decodes the JSON body into v (render.DecodeJSON): unknown fields are
// ignored, other media types and repeated keys refused, and a bad value
// named by its JSON path.
func bind(c echo.Context, v any) error {
	return render.DecodeJSON(c, v)
}
