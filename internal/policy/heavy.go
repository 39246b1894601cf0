package policy

import (
	"context"

	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/limit"
)

// Heavy bounds the heavy operations (heavy[op] true: lists, searches,
// statistics) each tenant runs at once on the instance, its users and apps
// together (limit.Limiter.Enter): past its tier's heavy_calls a call waits
// for a place, and once as many wait, or its deadline passes while it
// waits, it is answered 429 RATE_LIMITED with Retry-After. It runs after
// the rate limit and the operation's need, so only calls that may run take
// a place, and before the breaker, so a call refused here says nothing of
// the dependencies. A call it admits is marked heavy for the breakers
// (breaker.WithHeavy). A nil limiter turns the policy off.
func Heavy(l *limit.Limiter, heavy map[string]bool) Middleware {
	if l == nil {
		return nil
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (any, error) {
			info := InfoFrom(ctx)
			if !heavy[info.Operation] {
				return next(ctx, req)
			}
			c := info.Caller()
			if c.TenantID == "" {
				return next(ctx, req)
			}
			release, err := l.Enter(ctx, limit.Key{Scope: limit.ScopeTenant, ID: c.TenantID, Tier: c.Tier})
			if err != nil {
				return nil, refusal(info, err)
			}
			defer release()
			return next(breaker.WithHeavy(ctx), req)
		}
	}
}
