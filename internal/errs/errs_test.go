package errs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
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
		{Of(ReasonConversationConflict, "another request's origin id"), codes.AlreadyExists},
		{Of(ReasonLastAdmin, "user 7 is the last active admin").With("field", "role"), codes.FailedPrecondition},
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
	cases := []struct {
		err  *Error
		code int
	}{
		{InvalidArgument("page_size", "x"), 40001},
		{Unauthenticated("x"), 40101},
		{Forbidden("x"), 40301},
		{NotFound(ReasonNotFound, "x"), 40401},
		{NotFound(ReasonConversationNotFound, "x"), 40402},
		{NotFound(ReasonRefreshTokenNotFound, "x"), 40410},
		{Conflict("x"), 40901},
		{AlreadyExists("email", "x"), 40902},
		{Of(ReasonConversationConflict, "x"), 40903},
		{New(http.StatusRequestEntityTooLarge, ReasonPayloadTooLarge, "x"), 41301},
		{New(http.StatusUnprocessableEntity, ReasonUnprocessable, "x"), 42201},
		{New(http.StatusTooManyRequests, ReasonRateLimited, "x"), 42901},
		{Unavailable("mysql"), 50301},
		{New(http.StatusServiceUnavailable, ReasonUnavailable, "x"), 50302},
		{From(context.DeadlineExceeded), 50401},
		{From(context.Canceled), 49901},
		{Internal(errors.New("boom")), 50001},
		// Not listed: the status alone.
		{NotFound("X_NOT_FOUND", "x"), 40400},
		{From(status.Error(codes.Unavailable, "down")), 50300},
		// Listed, under a status that is not its own: no borrowed code.
		{New(http.StatusBadRequest, ReasonConflict, "x"), 40000},
	}
	for _, tc := range cases {
		if got := tc.err.Code(); got != tc.code {
			t.Errorf("%s/%d: code %d, want %d", tc.err.Reason, tc.err.Status, got, tc.code)
		}
	}
}

func TestReasonListIsConsistent(t *testing.T) {
	seenReason, seenCode := map[string]bool{}, map[int]string{}
	for _, r := range reasons {
		if seenReason[r.reason] {
			t.Errorf("%s listed twice", r.reason)
		}
		seenReason[r.reason] = true
		if other, ok := seenCode[r.code]; ok {
			t.Errorf("%s and %s share code %d", r.reason, other, r.code)
		}
		seenCode[r.code] = r.reason
		if r.code/100 != r.status || r.code%100 == 0 {
			t.Errorf("%s: code %d does not fit status %d", r.reason, r.code, r.status)
		}
		e := Of(r.reason, "x")
		if e.Status != r.status || e.Code() != r.code {
			t.Errorf("Of(%s) = %d/%d, want %d/%d", r.reason, e.Status, e.Code(), r.status, r.code)
		}
		if GRPCCode(r.status) == codes.Unknown {
			continue // HTTP-only, e.g. METHOD_NOT_ALLOWED.
		}
		if back := From(e.GRPCStatus().Err()); back.Reason != r.reason || back.Status != r.status {
			t.Errorf("gRPC round trip of %s: %s/%d, want status %d", r.reason, back.Reason, back.Status, r.status)
		}
	}
}

func TestConstructorsMatchTheList(t *testing.T) {
	cases := []*Error{
		InvalidArgument("f", "x"),
		AlreadyExists("f", "x"),
		Forbidden("x"),
		Conflict("x"),
		Unauthenticated("x"),
		Unavailable("mysql"),
		Internal(errors.New("boom")),
		From(context.DeadlineExceeded),
		From(context.Canceled),
	}
	for _, e := range cases {
		if s, _, ok := listed(e.Reason); !ok || s != e.Status {
			t.Errorf("%s: status %d, listed %d (%v)", e.Reason, e.Status, s, ok)
		}
	}
}

func TestOf(t *testing.T) {
	cases := []struct {
		reason string
		status int
	}{
		{ReasonUserDisabled, http.StatusUnauthorized},
		{ReasonDealNotFound, http.StatusNotFound},
		{ReasonUnsupportedMediaType, http.StatusUnsupportedMediaType},
		{ReasonCanceled, 499},
		{"NOT_LISTED", http.StatusInternalServerError},
	}
	for _, tc := range cases {
		e := Of(tc.reason, "deal %d", 7)
		if e.Status != tc.status || e.Reason != tc.reason || e.Message != "deal 7" {
			t.Errorf("Of(%s) = %d %s %q, want %d", tc.reason, e.Status, e.Reason, e.Message, tc.status)
		}
	}
}

func TestHelpers(t *testing.T) {
	cases := []struct {
		name          string
		err           error
		reason        string
		notFound      bool
		alreadyExists bool
	}{
		{"nil", nil, "", false, false},
		{"plain", errors.New("boom"), ReasonInternal, false, false},
		{"deadline", context.DeadlineExceeded, ReasonTimeout, false, false},
		{"not found", NotFound(ReasonUserNotFound, "x"), ReasonUserNotFound, true, false},
		{"wrapped not found", fmt.Errorf("load: %w", NotFound(ReasonTrackerNotFound, "x")), ReasonTrackerNotFound, true, false},
		{"unlisted not found", NotFound("X_NOT_FOUND", "x"), "X_NOT_FOUND", true, false},
		{"gRPC not found", status.Error(codes.NotFound, "x"), "NotFound", true, false},
		{"already exists", fmt.Errorf("create: %w", AlreadyExists("email", "x")), ReasonAlreadyExists, false, true},
		{"conflict", Conflict("x"), ReasonConflict, false, false},
		{"forbidden", Forbidden("x"), ReasonPermissionDenied, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReasonOf(tc.err); got != tc.reason {
				t.Errorf("ReasonOf = %q, want %q", got, tc.reason)
			}
			if got := Is(tc.err, tc.reason); got != (tc.err != nil) {
				t.Errorf("Is(err, %q) = %v", tc.reason, got)
			}
			if Is(tc.err, "SOMETHING_ELSE") {
				t.Error("Is matches another reason")
			}
			if got := IsNotFound(tc.err); got != tc.notFound {
				t.Errorf("IsNotFound = %v, want %v", got, tc.notFound)
			}
			if got := IsAlreadyExists(tc.err); got != tc.alreadyExists {
				t.Errorf("IsAlreadyExists = %v, want %v", got, tc.alreadyExists)
			}
		})
	}
}

func TestFieldErrors(t *testing.T) {
	cases := []struct {
		err    *Error
		status int
		reason string
		msg    string
	}{
		{InvalidArgument("page_size", "must be ≤ %d", 100), http.StatusBadRequest, ReasonInvalidArgument, "page_size: must be ≤ 100"},
		{AlreadyExists("email", "%s is another user's account", "a@b.c"), http.StatusConflict, ReasonAlreadyExists, "email: a@b.c is another user's account"},
		{Forbidden("only %s", "admins"), http.StatusForbidden, ReasonPermissionDenied, "only admins"},
		{Conflict("try again"), http.StatusConflict, ReasonConflict, "try again"},
	}
	for _, tc := range cases {
		e := tc.err
		if e.Status != tc.status || e.Reason != tc.reason || e.Message != tc.msg {
			t.Errorf("%d %s %q, want %d %s %q", e.Status, e.Reason, e.Message, tc.status, tc.reason, tc.msg)
		}
		if field, _, _ := strings.Cut(tc.msg, ":"); e.Field() != "" && (e.Field() != field || e.Metadata["field"] != field) {
			t.Errorf("%s: Field %q, metadata %v, want %q", e.Reason, e.Field(), e.Metadata, field)
		}
	}
}

func TestFieldNamesWord(t *testing.T) {
	cause := errors.New("strconv: bad digit")
	names := FieldNames{"id": "conversation_id", "max_duration_ms": "filter.max_duration_ms"}
	bad := InvalidArgument("id", "must be positive").WithCause(cause).With("seq", "3")
	cases := []struct {
		name  string
		err   error
		msg   string
		field string
		same  bool
	}{
		{"listed", bad, "conversation_id: must be positive", "conversation_id", false},
		{"wrapped", fmt.Errorf("get: %w", bad), "conversation_id: must be positive", "conversation_id", false},
		{"already exists", AlreadyExists("max_duration_ms", "taken"), "filter.max_duration_ms: taken", "filter.max_duration_ms", false},
		{"worded twice", names.Word(bad), "conversation_id: must be positive", "conversation_id", false},
		{"unlisted field", InvalidArgument("page_size", "too big"), "page_size: too big", "page_size", true},
		{"no field", NotFound(ReasonConversationNotFound, "none"), "none", "", true},
		{"field by hand only", New(http.StatusBadRequest, ReasonInvalidArgument, "id: bad").With("field", "id"), "id: bad", "id", true},
		{"not ours", cause, "", "", true},
		{"nil", nil, "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := names.Word(tc.err)
			if tc.same {
				if got != tc.err {
					t.Fatalf("Word changed %v into %v", tc.err, got)
				}
				return
			}
			e, ok := got.(*Error)
			if !ok || e.Message != tc.msg || e.Metadata["field"] != tc.field {
				t.Fatalf("Word = %#v, want %q naming %q", got, tc.msg, tc.field)
			}
			var orig *Error
			errors.As(tc.err, &orig)
			if e.Field() != orig.Field() || e.Status != orig.Status || e.Reason != orig.Reason || e.Unwrap() != orig.Unwrap() {
				t.Errorf("Word lost the neutral id, status, reason or cause: %#v", e)
			}
		})
	}
	if bad.Message != "id: must be positive" || bad.Metadata["field"] != "id" || bad.Metadata["seq"] != "3" {
		t.Errorf("Word changed its input: %#v", bad)
	}
	if named := bad.Named("ID"); named.Message != "ID: must be positive" || named.Metadata["seq"] != "3" || !errors.Is(named, cause) {
		t.Errorf("Named = %#v", named)
	}
	if plain := Forbidden("no"); plain.Named("x") != plain {
		t.Error("Named changed an error about no field")
	}
}

func TestStatusCodeMapping(t *testing.T) {
	for status, code := range map[int]codes.Code{
		400: codes.InvalidArgument, 422: codes.InvalidArgument, 401: codes.Unauthenticated, 403: codes.PermissionDenied,
		404: codes.NotFound, 409: codes.AlreadyExists, 413: codes.ResourceExhausted, 429: codes.ResourceExhausted,
		412: codes.FailedPrecondition, 499: codes.Canceled, 501: codes.Unimplemented, 503: codes.Unavailable,
		504: codes.DeadlineExceeded, 500: codes.Internal, 502: codes.Internal, 418: codes.Unknown,
	} {
		if got := GRPCCode(status); got != code {
			t.Errorf("GRPCCode(%d) = %v, want %v", status, got, code)
		}
	}
	for code, status := range map[codes.Code]int{
		codes.OK: 200, codes.InvalidArgument: 400, codes.OutOfRange: 400, codes.Unauthenticated: 401,
		codes.PermissionDenied: 403, codes.NotFound: 404, codes.AlreadyExists: 409, codes.Aborted: 409,
		codes.ResourceExhausted: 429, codes.FailedPrecondition: 412, codes.Unavailable: 503,
		codes.DeadlineExceeded: 504, codes.Canceled: 499, codes.Unimplemented: 501, codes.Internal: 500, codes.DataLoss: 500,
	} {
		if got := HTTPStatus(code); got != status {
			t.Errorf("HTTPStatus(%v) = %d, want %d", code, got, status)
		}
	}
}

// A 409 reason keeps its HTTP status and code and gets its own gRPC code,
// which a gRPC client's error maps back to the same reason and status.
func TestEveryConflictChoosesItsGRPCCode(t *testing.T) {
	want := map[string]codes.Code{
		ReasonConflict:                       codes.Aborted,
		ReasonAlreadyExists:                  codes.AlreadyExists,
		ReasonConversationConflict:           codes.AlreadyExists,
		ReasonLastAdmin:                      codes.FailedPrecondition,
		ReasonAppQuotaExceeded:               codes.ResourceExhausted,
		ReasonSubscriptionQuotaExceeded:      codes.ResourceExhausted,
		ReasonTrackerQuotaExceeded:           codes.ResourceExhausted,
		ReasonRedeliveryQuotaExceeded:        codes.ResourceExhausted,
		ReasonErasureNotAwaitingConfirmation: codes.FailedPrecondition,
		ReasonRetentionConfirmationRequired:  codes.FailedPrecondition,
		ReasonUserErased:                     codes.FailedPrecondition,
	}
	for _, r := range reasons {
		_, chosen := grpcCodeOf(r.reason)
		if r.status == http.StatusConflict && !chosen {
			t.Errorf("%s is a 409 with no gRPC code of its own in grpcCodes", r.reason)
		}
		if !chosen {
			continue
		}
		e := Of(r.reason, "x")
		if got := status.Code(e); got != want[r.reason] {
			t.Errorf("%s: gRPC %v, want %v", r.reason, got, want[r.reason])
		}
		if back := From(e.GRPCStatus().Err()); back.Reason != r.reason || back.Status != r.status || back.Code() != r.code {
			t.Errorf("%s: round trip %s/%d/%d, want %d/%d", r.reason, back.Reason, back.Status, back.Code(), r.status, r.code)
		}
	}
	for _, g := range grpcCodes {
		if _, _, ok := listed(g.reason); !ok {
			t.Errorf("%s has a gRPC code but is not in reasons", g.reason)
		}
	}
	// Under another status than its listed one, a reason borrows nothing.
	if got := New(http.StatusBadRequest, ReasonLastAdmin, "x").GRPCCode(); got != codes.InvalidArgument {
		t.Errorf("LAST_ADMIN as a 400: %v, want InvalidArgument", got)
	}
	if e := Of(ReasonLastAdmin, "x"); e.Status != http.StatusConflict || e.Code() != 40904 {
		t.Errorf("LAST_ADMIN over HTTP: %d/%d, want 409/40904", e.Status, e.Code())
	}
}

func TestTemporary(t *testing.T) {
	for _, c := range []struct {
		e    *Error
		want bool
	}{
		{Unavailable("db"), true},
		{Internal(errors.New("x")), true},
		{New(http.StatusTooManyRequests, ReasonRateLimited, "slow down"), true},
		{New(http.StatusConflict, ReasonConflict, "changed meanwhile"), true},
		{New(499, "CANCELED", "client gone"), true},
		{InvalidArgument("name", "bad"), false},
		{Of(ReasonLastAdmin, "last admin"), false},
		{NotFound(ReasonTenantNotFound, "gone"), false},
	} {
		if got := c.e.Temporary(); got != c.want {
			t.Errorf("%s (%d): Temporary() = %v, want %v", c.e.Reason, c.e.Status, got, c.want)
		}
	}
}
