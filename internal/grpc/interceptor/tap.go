package interceptor

import (
	"context"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/tap"

	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/policy"
)

// Tap decides from a call's headers, before any of its messages is read,
// whether the call may start, and bounds how long a stream may last. It runs
// on the connection's reader, so it does no I/O.
type Tap struct {
	// Verify checks a bearer token's signature and expiry, without I/O,
	// and tells whether the instance honours it (its revocation check, in
	// memory): a genuine token it no longer honours is refused by the
	// interceptors, which charge the refusal to its holder in the audit
	// trail, so its call goes on as an untrusted one.
	Verify func(token string) (honoured bool, err error)
	// Untrusted, if set, bounds the calls whose request message is being
	// read for a caller the instance does not vouch for: those of methods
	// that need no token (Public, health, reflection) and those with a
	// token it does not honour. grpc-go reads a call's whole request, up
	// to grpc.max_recv_msg_bytes (16 MiB), before any interceptor runs:
	// without the bound, 40 anonymous health checks of 15 MiB held 700 MB.
	// A call over it waits up to untrustedWait for a read to end, then is
	// refused with RESOURCE_EXHAUSTED; its slot is given back once its
	// request is read (ReadDone) or the call ends, which it does if its
	// request has not arrived within untrustedReadWindow.
	Untrusted *semaphore.Weighted
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
	trusted := false
	var done func() // gives back an untrusted read slot
	// A public method needs no token, but a call that brings a good one
	// is as trusted as on any other method.
	needed := strings.HasPrefix(method, "/mgv.") && !t.Public[method]
	var header string
	if v := info.Header.Get("authorization"); len(v) > 0 {
		header = v[0]
	}
	token, ok := policy.Bearer(header)
	if !ok && needed {
		return nil, t.refuse(errs.Unauthenticated("missing bearer token (Authorization: Bearer <token>)"))
	}
	if ok {
		honoured, err := t.Verify(token)
		if err != nil && needed {
			return nil, t.refuse(errs.From(err))
		}
		trusted = err == nil && honoured
	}
	if !trusted && t.Untrusted != nil {
		if !t.Untrusted.TryAcquire(1) {
			wait, cancel := context.WithTimeout(ctx, untrustedWait)
			err := t.Untrusted.Acquire(wait, 1)
			cancel()
			if err != nil {
				return nil, t.refuse(errs.Of(errs.ReasonOverCapacity,
					"too many calls without a token this server honours are being read at once; retry shortly").With("retry_after_seconds", "1"))
			}
		}
		// Its request must arrive within untrustedReadWindow: a call that
		// sends its headers and nothing else would hold the slot for its
		// whole timeout, or for ever on a stream without one.
		var unread context.CancelFunc
		ctx, unread = context.WithCancel(ctx)
		timer := time.AfterFunc(untrustedReadWindow, unread)
		done = sync.OnceFunc(func() { timer.Stop(); t.Untrusted.Release(1) })
		ctx = context.WithValue(ctx, readDoneKey{}, done)
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
	var cancel context.CancelFunc
	if d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
	}
	// The stream's own context is cancelled when the call ends, read or
	// not, which ends these too: cancel then only releases the timer, and
	// done the slot, if the request's read has not already.
	switch {
	case cancel != nil && done != nil:
		context.AfterFunc(ctx, func() { cancel(); done() })
	case cancel != nil:
		context.AfterFunc(ctx, cancel)
	case done != nil:
		context.AfterFunc(ctx, done)
	}
	return ctx, nil
}

// untrustedWait is how long a call waits for an untrusted read to end
// when Tap.Untrusted is full. The tap runs on the connection's reader, so
// the wait holds that connection's frames too, briefly: a burst of
// anonymous pings waits microseconds, while calls that keep reads open
// are refused.
const untrustedWait = 100 * time.Millisecond

// untrustedReadWindow is how long an untrusted call may take to send its
// request: such requests (a ping, a health check, an app key and secret)
// are a few hundred bytes.
const untrustedReadWindow = 2 * time.Second

type readDoneKey struct{}

// ReadDone gives back the untrusted read slot of the call of ctx, if it
// holds one: its request has been read (the unary interceptors run after
// it is; a stream's first RecvMsg returned).
func ReadDone(ctx context.Context) {
	if done, ok := ctx.Value(readDoneKey{}).(func()); ok {
		done()
	}
}

// refuse reports a refusal and returns it as a gRPC status error.
func (t Tap) refuse(e *errs.Error) error {
	if t.Refused != nil {
		t.Refused(e.Reason)
	}
	return e.GRPCStatus().Err()
}
