package interceptor

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc/tap"

	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/policy"
)

// Tap decides from a call's headers, before any of its messages is read,
// whether the call may start, and bounds how long a stream may last. It runs
// on the connection's reader, so it does no I/O.
type Tap struct {
	// Verify checks a bearer token's signature and expiry, without I/O.
	Verify func(token string) error
	// Public operations need no token (the auth policy's list); methods
	// outside the API (health, reflection) need none either.
	Public map[string]bool
	// Timeouts are whole-call deadlines per method (0: none, for the
	// long-lived streams), and Timeout that of every other method: the
	// call's context ends at it, which also ends the wait for a request
	// message that never comes. Without it, a call that sent its headers
	// and nothing else held its stream, and its goroutine, for as long as
	// the connection lived.
	Timeouts map[string]time.Duration
	Timeout  time.Duration
	// Refused, if set, is told of each call refused here, with the
	// refusal's reason (UNAUTHENTICATED, TOKEN_EXPIRED …). Such calls never
	// reach the interceptors, so this is how they are counted.
	Refused func(reason string)
}

// Handle is a grpc.InTapHandle.
func (t Tap) Handle(ctx context.Context, info *tap.Info) (context.Context, error) {
	method := info.FullMethodName
	if strings.HasPrefix(method, "/mgv.") && !t.Public[method] {
		var header string
		if v := info.Header.Get("authorization"); len(v) > 0 {
			header = v[0]
		}
		token, ok := policy.Bearer(header)
		if !ok {
			return nil, t.refuse(errs.Unauthenticated("missing bearer token (Authorization: Bearer <token>)"))
		}
		if err := t.Verify(token); err != nil {
			return nil, t.refuse(errs.From(err))
		}
	}
	if cd, ok := ctx.Deadline(); ok {
		// grpc-go has applied the client's grpc-timeout, and nothing else
		// yet: the breakers tell a call that outlived it (the client's
		// choice) from one that outlived the service's own timeout below
		// (the service's fault).
		ctx = breaker.WithCallerDeadline(ctx, cd)
	}
	d, ok := t.Timeouts[method]
	if !ok {
		d = t.Timeout
	}
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		// The stream's own context is cancelled when the call ends, which
		// ends this one too; cancel then only releases the timer.
		context.AfterFunc(ctx, cancel)
	}
	return ctx, nil
}

// refuse reports a refusal and returns it as a gRPC status error.
func (t Tap) refuse(e *errs.Error) error {
	if t.Refused != nil {
		t.Refused(e.Reason)
	}
	return e.GRPCStatus().Err()
}
