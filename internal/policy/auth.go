package policy

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/limit"
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
//
// A refused call (no token, or one refused as unauthenticated or revoked)
// spends its client address's budget in refusals (nil: no limit) before it
// is answered, as an anonymous call does after it: the rate limit, which
// keys on the caller, comes after auth, and a holder of a revoked token
// (or of none) was answered 401 as fast as it could ask, each audited call
// of it a record. Refusals have their own budget per address, at the
// anonymous rate (a client's refusals must not starve its sign-ins). Over
// HTTP a refusal waits in that queue as an anonymous call does (it holds
// no body: none is read before auth); over gRPC, whose request message (up
// to 16 MiB) is read before any interceptor, it waits at most
// grpcRefusalWait, the queue's length (anon_burst) bounding how many wait.
// Never the refused caller's tenant's budget: an ex-employee's revoked
// token would spend their former colleagues'. An instance that cannot check
// tokens (503) charges nothing: its callers did nothing wrong.
func Auth(a Authenticator, public map[string]bool, refusals *limit.Limiter) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (any, error) {
			info := InfoFrom(ctx)
			token, hasToken := Bearer(info.Header("Authorization"))
			if !hasToken {
				if public[info.Operation] || !isAPI(info) {
					return next(ctx, req)
				}
				if err := refuse(ctx, refusals, info); err != nil {
					return nil, err
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
				if st := errs.From(err).Status; st == http.StatusUnauthorized || st == http.StatusForbidden {
					if err := refuse(ctx, refusals, info); err != nil {
						return nil, err
					}
				}
				return nil, err
			}
			info.SetCaller(caller)
			return next(authed, req)
		}
	}
}

// refuse spends a refused call's address's budget in l (see Auth): the
// 429 when it is spent.
func refuse(ctx context.Context, l *limit.Limiter, info *Info) error {
	if l == nil {
		return nil
	}
	key := addressKey(limit.ScopeRefused, info)
	if info.Transport == GRPC {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, grpcRefusalWait)
		defer cancel()
	}
	return admit(ctx, l, info, key)
}

// grpcRefusalWait bounds how long a refused gRPC call, which holds its
// request message, waits in its address's queue before its 429.
const grpcRefusalWait = 100 * time.Millisecond

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
