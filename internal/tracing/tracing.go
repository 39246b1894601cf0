// Package tracing is the service's only door to distributed tracing. Jaeger
// (jaeger-client-go, no longer maintained) sits behind these interfaces, so
// a move to OpenTelemetry changes this package and nothing else.
//
// Spans travel in the context: a server span is started per call by the
// tracing policy; child spans (gorm queries, Elasticsearch calls) attach to
// the span the context carries, and are not started at all outside a traced
// call, since one-span orphan traces would only be noise.
package tracing

import "context"

// Tracer starts spans and flushes them.
type Tracer interface {
	// StartServer starts the span of one served call, continuing the trace
	// named by the incoming uber-trace-id that h (HTTP headers or gRPC
	// metadata; nil for none) holds. A missing or unparsable one starts a
	// new trace.
	StartServer(ctx context.Context, operation string, h Headers) (context.Context, Span)
	// StartChild starts a span for local work under the context's span.
	StartChild(ctx context.Context, operation string) (context.Context, Span)
	// StartClient starts a span for an outgoing call under the context's
	// span; Inject then passes it on to the callee.
	StartClient(ctx context.Context, operation string) (context.Context, Span)
	// Inject writes the context's span into outgoing headers.
	Inject(ctx context.Context, set func(key, value string))
	// Close flushes the buffered spans and stops the tracer, giving up when
	// ctx ends. Spans started afterwards are dropped.
	Close(ctx context.Context) error
}

// Headers reads a call's incoming headers or metadata.
type Headers interface {
	Header(key string) string
}

// HeaderFunc adapts a function to Headers.
type HeaderFunc func(key string) string

// Header returns f(key).
func (f HeaderFunc) Header(key string) string { return f(key) }

// Span is one timed operation.
type Span interface {
	// Recording is false for spans that will not be reported (tracing off,
	// or not sampled): callers skip building tags for them.
	Recording() bool
	SetTag(key string, value any)
	// SetError marks the span failed and records err.
	SetError(err error)
	Finish()
}

// HeaderTraceID is the response header (and gRPC header metadata) that tells
// a caller the trace of its request.
const HeaderTraceID = "X-Trace-Id"

// TraceID is the trace of the span ctx carries; empty when there is none
// (tracing off, or outside a call). Unsampled calls have a trace id too, so
// their log lines still correlate across services.
func TraceID(ctx context.Context) string {
	if s, ok := ctx.Value(spanKey{}).(interface{ traceID() string }); ok {
		return s.traceID()
	}
	return ""
}

type spanKey struct{}

// Noop is the tracer when tracing is off: it starts nothing, and TraceID
// stays empty.
func Noop() Tracer { return noop{} }

type noop struct{}

func (noop) StartServer(ctx context.Context, _ string, _ Headers) (context.Context, Span) {
	return ctx, noopSpan{}
}
func (noop) StartChild(ctx context.Context, _ string) (context.Context, Span) {
	return ctx, noopSpan{}
}
func (noop) StartClient(ctx context.Context, _ string) (context.Context, Span) {
	return ctx, noopSpan{}
}
func (noop) Inject(context.Context, func(string, string)) {}
func (noop) Close(context.Context) error                  { return nil }

type noopSpan struct{}

func (noopSpan) Recording() bool    { return false }
func (noopSpan) SetTag(string, any) {}
func (noopSpan) SetError(error)     {}
func (noopSpan) Finish()            {}
