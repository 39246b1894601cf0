package policy

import (
	"context"
	"errors"

	"github.com/megaview/mgvcore/internal/tracing"
)

// errPanicked marks the span of a call whose handler panicked; Recover,
// further out, logs the panic and answers 500.
var errPanicked = errors.New("handler panicked")

// Tracing gives every call a server span named by its operation, continuing
// the caller's trace from the uber-trace-id header or metadata (a missing or
// unparsable one starts a new trace; the call is served all the same). The
// trace id goes to Info, for the access log, and back to the caller in
// X-Trace-Id.
func Tracing(t tracing.Tracer) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (resp any, err error) {
			info := InfoFrom(ctx)
			ctx, span := t.StartServer(ctx, info.Operation, info)
			if id := tracing.TraceID(ctx); id != "" {
				info.SetTraceID(id)
				info.SetHeader(tracing.HeaderTraceID, id)
			}
			if !span.Recording() {
				// Unsampled: the trace id still travels, the tags would not.
				defer span.Finish()
				return next(ctx, req)
			}
			span.SetTag("transport", info.Transport)
			if info.Transport == HTTP {
				span.SetTag("http.method", info.Method)
				span.SetTag("http.route", info.Route)
			}
			panicked := true
			defer func() {
				if panicked {
					span.SetError(errPanicked)
				}
				span.Finish()
			}()
			resp, err = next(ctx, req)
			panicked = false
			tagOutcome(span, info, err)
			return resp, err
		}
	}
}

// tagOutcome records the status in each transport's own terms. Only server
// failures mark the span as an error: a 404 or a validation error is the
// service working.
func tagOutcome(span tracing.Span, info *Info, err error) {
	out := OutcomeOf(info, err, 0)
	if info.Transport == GRPC {
		code := "OK"
		if err != nil {
			code = out.Err.GRPCCode().String()
		}
		span.SetTag("grpc.code", code)
	} else {
		span.SetTag("http.status_code", out.Status)
	}
	if out.Err == nil {
		return
	}
	span.SetTag("reason", out.Reason)
	if out.Status >= 500 {
		span.SetError(out.Err)
	}
}
