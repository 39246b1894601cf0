// Package middleware adapts the transport-neutral policies of
// internal/policy to Echo.
package middleware

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/policy"
)

// echoCall holds a call's Info and carries its headers, in one allocation.
type echoCall struct {
	info policy.Info
	c    echo.Context
}

func (e *echoCall) Header(key string) string    { return e.c.Request().Header.Get(key) }
func (e *echoCall) SetHeader(key, value string) { e.c.Response().Header().Set(key, value) }
func (e *echoCall) SuccessStatus() int          { return e.c.Response().Status }
func (e *echoCall) Param(name string) string    { return e.c.Param(name) }

// Operations names the operation of each route, so an HTTP route and its
// gRPC method share limits, breakers, spans and metrics.
// Keyed by method, then route path, so a lookup builds no string.
type Operations map[string]map[string]string

// Add records the operation of method and route path.
func (o Operations) Add(method, path, operation string) {
	if o[method] == nil {
		o[method] = map[string]string{}
	}
	o[method][path] = operation
}

// Lookup returns the operation of a matched route; routes without a name
// (health, metrics) are named by method and path, and unmatched requests
// share one name so metrics keep a bounded set of labels.
func (o Operations) Lookup(method, path string) string {
	if op, ok := o[method][path]; ok {
		return op
	}
	if path == "" || path == "/*" {
		return "http.unmatched"
	}
	return method + " " + path
}

// Bounds are what one request may hold of the server.
type Bounds struct {
	// MaxBody bounds request bodies of unknown length.
	MaxBody int64
	// Read is the deadline for reading the request body; Write for writing
	// the response, or LongWrite for the operations in LongWriteOps
	// (downloads). Zero leaves a deadline unset.
	Read, Write, LongWrite time.Duration
	LongWriteOps           map[string]bool
}

// Policy runs the policy chain around every Echo handler, unknown routes
// included, bounds request bodies of unknown length and sets the request's
// read and write deadlines on its connection, which net/http's whole-server
// timeouts cannot do per route. The chain is built once; the Echo context
// travels as the request value.
func Policy(chain policy.Middleware, ops Operations, b Bounds) echo.MiddlewareFunc {
	maxBody := b.MaxBody
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := chain(func(ctx context.Context, req any) (any, error) {
			c := req.(echo.Context)
			c.SetRequest(c.Request().WithContext(ctx))
			if err := next(c); err != nil {
				// Inside the breaker: a client that left while the
				// answer was written is no failure of the operation.
				return nil, render.FromEcho(policy.ClientGone(ctx, err))
			}
			return nil, nil
		})
		return func(c echo.Context) error {
			req := c.Request()
			if maxBody > 0 && req.Body != nil {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, maxBody)
			}
			op := ops.Lookup(req.Method, c.Path())
			b.setDeadlines(c.Response(), op)
			call := &echoCall{c: c}
			call.info = policy.Info{
				Operation:     op,
				Transport:     policy.HTTP,
				Method:        req.Method,
				Route:         c.Path(),
				ClientIP:      c.RealIP(),
				ContentLength: req.ContentLength,
				Carrier:       call,
			}
			_, err := h(policy.WithInfo(req.Context(), &call.info), c)
			return err
		}
	}
}

// setDeadlines bounds the connection's reads and writes for this request;
// net/http clears them before the next request on the connection.
func (b Bounds) setDeadlines(w http.ResponseWriter, op string) {
	rc := http.NewResponseController(w)
	now := time.Now()
	if b.Read > 0 {
		_ = rc.SetReadDeadline(now.Add(b.Read))
	}
	write := b.Write
	if b.LongWriteOps[op] {
		write = b.LongWrite
	}
	if write > 0 {
		_ = rc.SetWriteDeadline(now.Add(write))
	}
}
