package policy

import (
	"context"

	"github.com/megaview/mgvcore/internal/logic/access"
)

// Need refuses a call whose caller lacks what its operation needs
// (access.Require: 401 without a caller, 403 PERMISSION_DENIED for an app
// without the scope or a user without the role) before the handler reads
// any of the request, so a caller that may not make the call learns
// nothing of whether its path id, query or body was valid. The use case
// checks again, for what depends on the arguments (its own rows, the
// caller's data scope). An operation not in needs passes.
func Need(needs map[string]access.Need) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (any, error) {
			need, ok := needs[InfoFrom(ctx).Operation]
			if !ok {
				return next(ctx, req)
			}
			if _, err := access.Require(ctx, need); err != nil {
				return nil, err
			}
			return next(ctx, req)
		}
	}
}
