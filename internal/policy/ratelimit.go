package policy

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/megaview/mgvcore/internal/clientip"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/limit"
)

// HeaderRetryAfter tells a refused caller when to come back, in seconds.
const HeaderRetryAfter = "Retry-After"

// RateLimit admits each call under its caller's key (see RateLimitKey). A
// call waits while its key's queue has room; when the queue is full, or the
// call's deadline passes while it waits, it is answered 429 RATE_LIMITED
// (gRPC ResourceExhausted) with Retry-After and metadata
// retry_after_seconds. A nil limiter turns the policy off.
func RateLimit(l *limit.Limiter) Middleware {
	if l == nil {
		return nil
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (any, error) {
			info := InfoFrom(ctx)
			if !isAPI(info) {
				// Health probes, metrics scrapes and unmatched routes are
				// operations traffic: never throttled, never queued.
				return next(ctx, req)
			}
			if err := l.Wait(ctx, RateLimitKey(info)); err != nil {
				var rej *limit.Rejected
				if !errors.As(err, &rej) {
					return nil, errs.From(err) // the caller left while waiting
				}
				secs := strconv.Itoa(rej.RetryAfterSeconds())
				info.SetHeader(HeaderRetryAfter, secs)
				return nil, errs.New(http.StatusTooManyRequests, errs.ReasonRateLimited,
					"too many requests for this %s, retry after %s s", rej.Scope, secs).
					With("retry_after_seconds", secs)
			}
			return next(ctx, req)
		}
	}
}

// RateLimitKey is whose budget a call spends: the app's for a partner app,
// else the tenant's, both at the caller's tier; the client IP's for an
// anonymous call.
func RateLimitKey(info *Info) limit.Key {
	c := info.Caller()
	switch {
	case c.AppID != "":
		return limit.Key{Scope: limit.ScopeApp, ID: c.AppID, Tier: c.Tier}
	case c.TenantID != "":
		return limit.Key{Scope: limit.ScopeTenant, ID: c.TenantID, Tier: c.Tier}
	}
	return limit.Key{Scope: limit.ScopeIP, ID: clientip.Key(info.ClientIP)}
}
