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
			key := RateLimitKey(info)
			if key.Scope == limit.ScopeApp {
				// The tenant's budget first: each app has its own, and the
				// tenant's, at the same tier, holds for its users and all
				// its apps together (before, each app a tenant made
				// added a tier's rate).
				c := info.Caller()
				if err := admit(ctx, l, info, limit.Key{Scope: limit.ScopeTenant, ID: c.TenantID, Tier: c.Tier}); err != nil {
					return nil, err
				}
			}
			if err := admit(ctx, l, info, key); err != nil {
				return nil, err
			}
			return next(ctx, req)
		}
	}
}

// admit spends key's budget in l (nil: admits at once), waiting while its
// queue has room; the error is 429 RATE_LIMITED with Retry-After when the
// call is refused, or the caller's leaving while it waited.
func admit(ctx context.Context, l *limit.Limiter, info *Info, key limit.Key) error {
	if l == nil {
		return nil
	}
	return refusal(info, l.Wait(ctx, key))
}

// refusal is the answer to a call the limiter did not admit (nil when it
// did): 429 RATE_LIMITED with Retry-After when it was refused, or ran out
// of time waiting; the caller's leaving as it is.
func refusal(info *Info, err error) error {
	if err == nil {
		return nil
	}
	var rej *limit.Rejected
	if !errors.As(err, &rej) {
		return errs.From(err) // the caller left while waiting
	}
	secs := strconv.Itoa(rej.RetryAfterSeconds())
	info.SetHeader(HeaderRetryAfter, secs)
	switch rej.Scope {
	case limit.ScopeRefused:
		return errs.New(http.StatusTooManyRequests, errs.ReasonRateLimited,
			"too many refused calls from this address, retry after %s s", secs).With("retry_after_seconds", secs)
	case limit.ScopeHeavy:
		return errs.New(http.StatusTooManyRequests, errs.ReasonRateLimited,
			"too many lists, searches and statistics of this tenant running at once, retry after %s s", secs).
			With("retry_after_seconds", secs)
	}
	return errs.New(http.StatusTooManyRequests, errs.ReasonRateLimited,
		"too many requests for this %s, retry after %s s", rej.Scope, secs).
		With("retry_after_seconds", secs)
}

// addressKey is the budget of the call's client address in scope
// (limit.ScopeIP, or limit.ScopeRefused for its refused calls).
func addressKey(scope limit.Scope, info *Info) limit.Key {
	return limit.Key{Scope: scope, ID: clientip.Key(info.ClientIP)}
}

// RateLimitKey is whose budget a call spends: the app's for a partner app
// (and its tenant's: see RateLimit), else the tenant's, both at the
// caller's tier; the client IP's for an anonymous call.
func RateLimitKey(info *Info) limit.Key {
	c := info.Caller()
	switch {
	case c.AppID != "":
		return limit.Key{Scope: limit.ScopeApp, ID: c.AppID, Tier: c.Tier}
	case c.TenantID != "":
		return limit.Key{Scope: limit.ScopeTenant, ID: c.TenantID, Tier: c.Tier}
	}
	return addressKey(limit.ScopeIP, info)
}
