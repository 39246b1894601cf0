package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/errs"
)

// A stream cut at its deadline while the server waited for the client is
// DeadlineExceeded to the client and no failure to the breaker; any other
// receive error stays what it was.
func TestClientLateIsNoFailureOfTheServer(t *testing.T) {
	recvErr := status.Error(codes.DeadlineExceeded, "context deadline exceeded")
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()

	err := clientLate(expired, recvErr)
	if got := status.Code(err); got != codes.DeadlineExceeded {
		t.Errorf("client sees %v, want DeadlineExceeded", got)
	}
	if e := errs.From(err); e.Reason != errs.ReasonClientTimeout || e.Code() != 40801 {
		t.Errorf("reason %s code %d, want CLIENT_TIMEOUT 40801", e.Reason, e.Code())
	}
	if o := breaker.Classify(expired, err); o == breaker.Failure {
		t.Errorf("the breaker counts a late client as %v", o)
	}
	// Without the wording, the same receive error is a failure.
	if o := breaker.Classify(expired, recvErr); o != breaker.Failure {
		t.Errorf("control: a bare deadline is %v, want failure", o)
	}

	other := errors.New("connection reset")
	if err := clientLate(context.Background(), other); err != other {
		t.Errorf("a receive error with time left became %v", err)
	}
}
