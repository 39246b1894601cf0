package breaker

import (
	"context"
	"errors"
	"net/http"

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
//     conflict): Success.
//   - context.Canceled, 499 / gRPC Canceled, or any error once ctx itself
//     was canceled: Ignore — the caller left, the dependency said nothing.
//   - context.DeadlineExceeded, 5xx / gRPC Unavailable, DeadlineExceeded,
//     Internal, Unknown, DataLoss: Failure. 501 Unimplemented is an answer.
//   - anything else (connection refused, reset, EOF, a driver's error):
//     Failure, as it becomes a 500 for the client.
func Classify(ctx context.Context, err error) Outcome {
	if err == nil {
		return Success
	}
	if ctx != nil && errors.Is(ctx.Err(), context.Canceled) {
		return Ignore
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
