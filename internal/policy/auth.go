package policy

import (
	"context"
	"strings"

	"github.com/megaview/mgvcore/internal/errs"
)

// Authenticator turns a bearer token into the caller and a context carrying
// the caller's data scope. A genuine token it refuses for a reason other
// than its signature or expiry (a revoked one) still names its caller
// alongside the error; any other refusal names none.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (context.Context, Caller, error)
}

// Auth requires a valid "Authorization: Bearer …" (header or metadata) on
// every operation not listed as public. A public operation still reads a
// token when one is sent, e.g. so rate limits key on the tenant.
func Auth(a Authenticator, public map[string]bool) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (any, error) {
			info := InfoFrom(ctx)
			token, hasToken := Bearer(info.Header("Authorization"))
			if !hasToken {
				if public[info.Operation] || !isAPI(info) {
					return next(ctx, req)
				}
				return nil, errs.Unauthenticated("missing bearer token (Authorization: Bearer <token>)")
			}
			authed, caller, err := a.Authenticate(ctx, token)
			if err != nil {
				if public[info.Operation] || !isAPI(info) {
					return next(ctx, req)
				}
				if caller.TenantID != "" {
					info.SetRefused(caller)
				}
				return nil, err
			}
			info.SetCaller(caller)
			return next(authed, req)
		}
	}
}

// isAPI tells API operations (which need a caller, and are rate limited and
// guarded by breakers) from operational routes (health, metrics, docs) and
// unmatched requests.
func isAPI(info *Info) bool {
	return strings.HasPrefix(info.Operation, "/mgv.")
}

// Bearer takes the token of an "Authorization: Bearer <token>" value.
func Bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
