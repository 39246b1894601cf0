// Package middleware adapts the transport-neutral policies of
// internal/policy to Echo.
package middleware

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/policy"
	"github.com/megaview/mgvcore/internal/tracing"
)

// echoCall holds a call's Info and carries its headers and the route's
// handler, in one allocation.
type echoCall struct {
	info policy.Info
	c    echo.Context
	next echo.HandlerFunc
}

func (e *echoCall) Header(key string) string {
	h := e.c.Request().Header
	if k, ok := headerKeys[key]; ok {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return h.Get(key)
}

// headerKeys spells the headers the policies read in net/http's canonical
// form, so reading one canonicalises (and allocates) nothing.
var headerKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{policy.HeaderRequestID, "Authorization", tracing.HeaderTraceContext} {
		m[k] = http.CanonicalHeaderKey(k)
	}
	return m
}()

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
// share one name so metrics keep a bounded set of labels. A method net/http
// does not define matches no route either: Echo answers it 405 on a known
// path, and naming it by the client's method would make every method sent a
// new series (and span name).
func (o Operations) Lookup(method, path string) string {
	if op, ok := o[method][path]; ok {
		return op
	}
	if path == "" || path == "/*" || !knownMethods[method] {
		return "http.unmatched"
	}
	return method + " " + path
}

// knownMethods are the methods net/http defines, the only ones an operation
// name built from the request's method may hold.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true,
	http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true,
	http.MethodConnect: true, http.MethodOptions: true, http.MethodTrace: true,
}

// takesBody are the methods whose routes read a request body.
var takesBody = map[string]bool{http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true}

// Bounds are what one request may hold of the server.
type Bounds struct {
	// MaxBody bounds request bodies of unknown length.
	MaxBody int64
	// Read is the deadline for reading the request body; Write for writing
	// the response, or LongWrite for the operations in LongWriteOps
	// (downloads). Zero leaves a deadline unset.
	Read, Write, LongWrite time.Duration
	LongWriteOps           map[string]bool
	// Closing, once set (the server is shutting down), makes every answer
	// close its connection.
	Closing *atomic.Bool
}

// Policy runs the policy chain around every Echo handler, unknown routes
// included, bounds request bodies of unknown length and sets the request's
// read and write deadlines on its connection, which net/http's whole-server
// timeouts cannot do per route.
//
// Echo applies Use middleware on every request, so the chain is built once
// here, outside the per-request closure: the route's handler travels in the
// call, and the Echo context as the request value. Rebuilding it per request
// cost one allocation per policy.
func Policy(chain policy.Middleware, ops Operations, b Bounds) echo.MiddlewareFunc {
	maxBody := b.MaxBody
	h := chain(func(ctx context.Context, req any) (any, error) {
		call := req.(*echoCall)
		c := call.c
		c.SetRequest(c.Request().WithContext(ctx))
		if err := call.next(c); err != nil {
			// Inside the breaker: a client that left while the
			// answer was written is no failure of the operation.
			return nil, render.FromEcho(policy.ClientGone(ctx, err))
		}
		return nil, nil
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			// A request without a body (http.NoBody) has nothing to bound.
			hasBody := req.Body != nil && req.Body != http.NoBody
			if hasBody && !takesBody[req.Method] {
				// No handler reads the body of these methods, and
				// net/http reads what was declared before it answers
				// and again when the call ends, to keep the connection
				// for the next request: a client that declares a body
				// and never sends it would hold the call and get nothing
				// until the read deadline. With Connection: close the
				// answer goes out at once; the read deadline, already
				// passed, ends the read at the call's end, and the
				// connection closes.
				c.Response().Header().Set(echo.HeaderConnection, "close")
				_ = http.NewResponseController(c.Response()).SetReadDeadline(time.Now())
				hasBody = false
			}
			if maxBody > 0 && hasBody {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, maxBody)
			}
			if b.Closing != nil && b.Closing.Load() {
				c.Response().Header().Set(echo.HeaderConnection, "close")
			}
			op := ops.Lookup(req.Method, c.Path())
			now := time.Now()
			b.setDeadlines(c.Response(), op, hasBody, now)
			call := &echoCall{c: c, next: next}
			call.info = policy.Info{
				Operation:     op,
				Transport:     policy.HTTP,
				Method:        req.Method,
				Route:         c.Path(),
				ClientIP:      c.RealIP(),
				ContentLength: req.ContentLength,
				Carrier:       call,
				Start:         now,
			}
			_, err := h(policy.WithInfo(req.Context(), &call.info), call)
			return err
		}
	}
}

// setDeadlines bounds the connection's reads and writes for this request;
// net/http clears them before the next request on the connection. A
// request without a body has nothing left to read (its headers were
// bounded by http.read_header_timeout), so it gets no read deadline: each
// deadline set costs a timer update on the connection.
func (b Bounds) setDeadlines(w http.ResponseWriter, op string, hasBody bool, now time.Time) {
	rc := http.NewResponseController(w)
	read, write := b.Read, b.Write
	if !hasBody {
		read = 0
	}
	if b.LongWriteOps[op] {
		write = b.LongWrite
		// A download reads what it sends as it writes, under the request's
		// context, and net/http cancels that context when the connection's
		// read deadline passes: a download that came with a body gets its
		// write deadline as its read deadline too.
		if read > 0 && (write == 0 || write > read) {
			read = write
		}
	}
	if read > 0 {
		_ = rc.SetReadDeadline(now.Add(read))
	}
	if write > 0 {
		_ = rc.SetWriteDeadline(now.Add(write))
	}
}
