package controller

import "github.com/labstack/echo/v4"

// Router registers a route under its operation name; the operation is shared
// with the gRPC method of the same use case, so both transports share
// limits, breakers, spans and metrics.
type Router interface {
	Handle(method, path, operation string, h echo.HandlerFunc)
}

// bind decodes the request (path, query and JSON body) into v; Echo's binder
// ignores unknown JSON fields and reports where malformed JSON breaks.
func bind(c echo.Context, v any) error {
	return c.Bind(v)
}
