package policy

import (
	"context"

	"github.com/megaview/mgvcore/internal/breaker"
)

// Breaker guards each operation with its own circuit breaker, named by the
// operation, so one failing use case does not take the others down. An
// open breaker answers at once with 503 DEPENDENCY_UNAVAILABLE (gRPC
// Unavailable). A nil registry turns the policy off.
func Breaker(reg *breaker.Registry) Middleware {
	if reg == nil {
		return nil
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (any, error) {
			info := InfoFrom(ctx)
			if !isAPI(info) {
				// Probes must report the truth, not an open breaker; and a
				// call without Info has no operation to key a breaker on.
				return next(ctx, req)
			}
			op := info.Operation
			var resp any
			err := reg.Get(op).Do(ctx, func(ctx context.Context) error {
				var err error
				resp, err = next(ctx, req)
				return err
			})
			return resp, err
		}
	}
}
