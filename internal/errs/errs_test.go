package errs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestGRPCStatusCarriesReason(t *testing.T) {
	cases := []struct {
		err  *Error
		code codes.Code
	}{
		{NotFound("CONVERSATION_NOT_FOUND", "no conversation %d", 7), codes.NotFound},
		{InvalidArgument("page_size", "must be ≤ 100"), codes.InvalidArgument},
		{Unauthenticated("token expired"), codes.Unauthenticated},
		{Unavailable("mysql"), codes.Unavailable},
		{New(http.StatusTooManyRequests, ReasonRateLimited, "slow down"), codes.ResourceExhausted},
		{New(http.StatusRequestEntityTooLarge, ReasonPayloadTooLarge, "too big"), codes.ResourceExhausted},
		{New(http.StatusConflict, ReasonAlreadyExists, "exists"), codes.AlreadyExists},
		{New(http.StatusConflict, ReasonConflict, "a concurrent change got in the way"), codes.Aborted},
		{Internal(errors.New("boom")), codes.Internal},
	}
	for _, tc := range cases {
		t.Run(tc.err.Reason, func(t *testing.T) {
			st, ok := status.FromError(fmt.Errorf("wrapped: %w", tc.err))
			if !ok || st.Code() != tc.code {
				t.Fatalf("code %v, want %v", st.Code(), tc.code)
			}
			var info *errdetails.ErrorInfo
			for _, d := range st.Details() {
				if i, ok := d.(*errdetails.ErrorInfo); ok {
					info = i
				}
			}
			if info == nil || info.Reason != tc.err.Reason {
				t.Fatalf("ErrorInfo %v, want reason %s", info, tc.err.Reason)
			}
			if back := From(st.Err()); back.Reason != tc.err.Reason || back.Status != tc.err.Status {
				t.Fatalf("round trip: %s/%d, want %s/%d", back.Reason, back.Status, tc.err.Reason, tc.err.Status)
			}
		})
	}
}

func TestFromClassifies(t *testing.T) {
	cases := []struct {
		err    error
		status int
		reason string
	}{
		{context.DeadlineExceeded, http.StatusGatewayTimeout, ReasonTimeout},
		{fmt.Errorf("query: %w", context.Canceled), 499, ReasonCanceled},
		{errors.New("dial tcp: refused"), http.StatusInternalServerError, ReasonInternal},
		{status.Error(codes.Unavailable, "down"), http.StatusServiceUnavailable, "Unavailable"},
	}
	for _, tc := range cases {
		e := From(tc.err)
		if e.Status != tc.status || e.Reason != tc.reason {
			t.Errorf("From(%v) = %d %s, want %d %s", tc.err, e.Status, e.Reason, tc.status, tc.reason)
		}
		if e.Status == http.StatusInternalServerError && e.Message != "internal error" {
			t.Errorf("internal cause leaked: %q", e.Message)
		}
	}
}

func TestCodesAreStableAndNonZero(t *testing.T) {
	if got := NotFound(ReasonNotFound, "x").Code(); got != 40401 {
		t.Fatalf("NOT_FOUND code %d, want 40401", got)
	}
	if got := New(http.StatusConflict, ReasonAlreadyExists, "x").Code(); got != 40902 {
		t.Fatalf("ALREADY_EXISTS code %d, want 40902", got)
	}
	if got := NotFound("CONVERSATION_NOT_FOUND", "x").Code(); got == 0 {
		t.Fatal("zero code")
	}
}
