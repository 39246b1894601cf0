// Package policy holds the cross-cutting request policies, each written once
// as a transport-neutral Middleware and adapted to Echo
// (internal/http/middleware) and gRPC (internal/grpc/interceptor).
//
// Every use case has one operation name shared by its gRPC method and its
// HTTP route (e.g. /mgv.open.v1.ConversationService/GetConversation), so
// limits, breakers, spans and metrics share one key.
//
// The chain order, outermost first:
//
//	request id → recover → access log → tracing → timeout → size limit →
//	auth → rate limit → need (scope/role) → heavy calls per tenant →
//	circuit breaker → handler
//
// Metrics observe at the access-log position, so they see every outcome.
package policy

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Handler is one call of an operation. req and resp are transport values the
// policies never look into.
type Handler func(ctx context.Context, req any) (any, error)

// Middleware wraps a Handler.
type Middleware func(Handler) Handler

// Chain composes middlewares; the first is the outermost.
func Chain(ms ...Middleware) Middleware {
	return func(h Handler) Handler {
		for i := len(ms) - 1; i >= 0; i-- {
			if ms[i] != nil {
				h = ms[i](h)
			}
		}
		return h
	}
}

// Transports.
const (
	HTTP = "http"
	GRPC = "grpc"
)

// Info describes the call to the policies, whatever the transport. The
// adapters fill the transport fields; auth fills the caller.
type Info struct {
	Operation string // shared operation name
	Transport string // HTTP or GRPC
	Method    string // HTTP method, or "POST" for gRPC
	Route     string // HTTP route pattern or gRPC full method
	ClientIP  string
	// ContentLength is the declared body size, -1 when unknown.
	ContentLength int64
	// Start is when the transport took the call: the call's deadline and
	// the latency the access log records count from it. Zero: the
	// policies read the clock themselves. (One reading per call, not one
	// per policy: the clock is a measurable part of a trivial call.)
	Start time.Time

	// Carrier reaches the transport's headers; the adapters implement it on
	// the same allocation as the Info.
	Carrier Carrier

	mu        sync.Mutex
	requestID string
	traceID   string
	caller    Caller
	refused   Caller
}

// Caller is who is calling, as established by auth.
type Caller struct {
	TenantID string
	UserID   string
	AppID    string
	Role     string
	// Tier names the rate-limit tier of the tenant or app.
	Tier string
}

// Carrier is what a policy may ask of the transport.
type Carrier interface {
	// Header reads an incoming header (HTTP) or metadata value (gRPC).
	Header(key string) string
	// SetHeader sets an outgoing header (HTTP) or header metadata (gRPC).
	SetHeader(key, value string)
	// SuccessStatus is the HTTP status written by a handler that returned
	// no error (200 for gRPC).
	SuccessStatus() int
}

// Header reads an incoming header or metadata value.
func (i *Info) Header(key string) string { return i.Carrier.Header(key) }

// SetHeader sets an outgoing header or metadata value.
func (i *Info) SetHeader(key, value string) { i.Carrier.SetHeader(key, value) }

// ClientAddress is the caller's address, for tracing's budget per client.
func (i *Info) ClientAddress() string { return i.ClientIP }

// SuccessStatus is the status of a call that returned no error.
func (i *Info) SuccessStatus() int { return i.Carrier.SuccessStatus() }

// NoCarrier is a Carrier without a transport: no headers, status 200.
type NoCarrier struct{}

// Header is always empty.
func (NoCarrier) Header(string) string { return "" }

// SetHeader drops the header.
func (NoCarrier) SetHeader(string, string) {}

// SuccessStatus is 200.
func (NoCarrier) SuccessStatus() int { return http.StatusOK }

// SetRequestID records the request id.
func (i *Info) SetRequestID(id string) { i.mu.Lock(); i.requestID = id; i.mu.Unlock() }

// RequestID is the request id.
func (i *Info) RequestID() string { i.mu.Lock(); defer i.mu.Unlock(); return i.requestID }

// SetTraceID records the trace id.
func (i *Info) SetTraceID(id string) { i.mu.Lock(); i.traceID = id; i.mu.Unlock() }

// TraceID is the trace id, empty when the call is not traced.
func (i *Info) TraceID() string { i.mu.Lock(); defer i.mu.Unlock(); return i.traceID }

// SetCaller records the authenticated caller.
func (i *Info) SetCaller(c Caller) { i.mu.Lock(); i.caller = c; i.mu.Unlock() }

// Caller is the authenticated caller; zero when anonymous.
func (i *Info) Caller() Caller { i.mu.Lock(); defer i.mu.Unlock(); return i.caller }

// SetRefused records the caller a genuine token named when auth refused
// that token (revoked): not authenticated, but known, so that the audit
// trail charges the refused call to it.
func (i *Info) SetRefused(c Caller) { i.mu.Lock(); i.refused = c; i.mu.Unlock() }

// Refused is the caller whose genuine token auth refused; zero when none.
func (i *Info) Refused() Caller { i.mu.Lock(); defer i.mu.Unlock(); return i.refused }

type infoKey struct{}

// WithInfo attaches info to ctx.
func WithInfo(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// InfoFrom returns the call's Info; a detached placeholder when there is none,
// so policies never have to check for nil.
func InfoFrom(ctx context.Context) *Info {
	if info, ok := ctx.Value(infoKey{}).(*Info); ok {
		return info
	}
	return &Info{Carrier: NoCarrier{}, ContentLength: -1}
}

// HeaderRequestID carries the request id on both transports.
const HeaderRequestID = "X-Request-Id"
