package breaker

import (
	"context"
	"errors"
	"net/http"
	"time"

	"google.golang.org/grpc/status"

	"github.com/megaview/mgvcore/internal/errs"
)

// Outcome is what a finished call says about the health of what it called.
type Outcome int

// Outcomes.
const (
	// Ignore says nothing either way: the caller gave up, or the call was
	// refused before it reached the dependency.
	Ignore Outcome = iota
	// Success: the dependency answered, even if the answer was "not found"
	// or "invalid". Counting those as successes keeps the failure rate
	// about the dependency, and lets such an answer close a half-open
	// breaker, since it proves the dependency is back.
	Success
	// Failure: a timeout, a connection error, a 5xx.
	Failure
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return "ignore"
}

// Classify sorts a call's error:
//
//   - nil, and 4xx answers (not found, validation, auth, rate limit,
//     conflict): Success. So is errs.QueryTimeout, a 504 the database
//     answered by ending a statement at the operation's deadline, in a
//     heavy call (WithHeavy); in any other call it is a Failure.
//   - context.Canceled, 499 / gRPC Canceled, or any error once ctx itself
//     was canceled: Ignore — the caller left, the dependency said nothing.
//     So is any error once the deadline the caller chose has passed (see
//     WithCallerDeadline).
//   - context.DeadlineExceeded, 5xx / gRPC Unavailable, DeadlineExceeded,
//     Internal, Unknown, DataLoss: Failure. 501 Unimplemented is an answer.
//   - anything else (connection refused, reset, EOF, a driver's error):
//     Failure, as it becomes a 500 for the client.
func Classify(ctx context.Context, err error) Outcome {
	if err == nil {
		return Success
	}
	if ctx != nil && (errors.Is(ctx.Err(), context.Canceled) || callerTimedOut(ctx)) {
		return Ignore
	}
	if errs.IsQueryTimeout(err) {
		return queryTimeout(ctx)
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return ByStatus(e.Status)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Ignore
	case errors.Is(err, context.DeadlineExceeded):
		return Failure
	}
	if st, ok := status.FromError(err); ok {
		return ByStatus(errs.HTTPStatus(st.Code()))
	}
	return Failure
}

type callerDeadlineKey struct{}

// WithCallerDeadline marks ctx as bounded by d, a deadline its caller chose
// (gRPC's grpc-timeout). A call that ends once d has passed is the
// caller's doing, like a canceled one, and Classify ignores it: a client
// choosing a deadline shorter than any call can take would otherwise fail
// its calls in the middle of their database query, and open the breakers
// (the operation's and the database's) for every caller on the instance.
func WithCallerDeadline(ctx context.Context, d time.Time) context.Context {
	return context.WithValue(ctx, callerDeadlineKey{}, d)
}

// callerTimedOut reports whether the deadline ctx's caller chose has
// passed. The error need not be a context's: a connection dialed for the
// call times out at that deadline, as an i/o timeout, before the context
// reports it.
func callerTimedOut(ctx context.Context) bool {
	d, ok := ctx.Value(callerDeadlineKey{}).(time.Time)
	return ok && !time.Now().Before(d)
}

// ByStatus sorts an HTTP status as Classify does.
func ByStatus(code int) Outcome {
	switch {
	case code == 499:
		return Ignore
	case code == http.StatusNotImplemented:
		return Success
	case code >= 500:
		return Failure
	}
	return Success
}

type heavyKey struct{}

// WithHeavy marks ctx as a heavy call's (a list, a search, statistics:
// policy.Heavy), whose statements take as long as the range and filters
// its caller chose ask. The database ending one at the time bound of the
// call's deadline is then the call's doing, and counts as the database's
// answer: one tenant's year of statistics must not open the breakers every
// tenant shares. A statement of any other call (a row by id, a write, a
// token's check) ended so says the database is slow for everyone, and
// counts as a failure: an overloaded database still opens them.
func WithHeavy(ctx context.Context) context.Context {
	return context.WithValue(ctx, heavyKey{}, true)
}

// queryTimeout is the outcome of a statement the database ended at its
// time bound in ctx's call.
func queryTimeout(ctx context.Context) Outcome {
	if ctx != nil {
		if heavy, _ := ctx.Value(heavyKey{}).(bool); heavy {
			return Success
		}
	}
	return Failure
}
