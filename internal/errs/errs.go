// Package errs is the one error type of the service. It carries an HTTP
// status, a stable machine reason, a human message and metadata, and knows
// how to become a gRPC status with ErrorInfo and an HTTP envelope.
package errs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/megaview/mgvcore/global"
)

// Error is a failure that is safe to show a client.
type Error struct {
	// Status is the HTTP status code.
	Status int `json:"-"`
	// Reason is stable and machine readable, e.g. CONVERSATION_NOT_FOUND.
	Reason string `json:"reason"`
	// Message is a human sentence.
	Message string `json:"msg"`
	// Metadata adds details, e.g. {"field": "page_size"}.
	Metadata map[string]string `json:"metadata,omitempty"`

	cause error
	// field and detail are kept apart for errors about one input, so that
	// each transport can word them with its own name for the field.
	field, detail string
}

// New makes an Error.
func New(status int, reason, format string, args ...any) *Error {
	return &Error{Status: status, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Message, e.cause)
	}
	return e.Reason + ": " + e.Message
}

// Unwrap exposes the cause to errors.Is/As.
func (e *Error) Unwrap() error { return e.cause }

// WithCause keeps the underlying error for logs; clients never see it.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.cause = err
	return &c
}

// With adds one metadata pair.
func (e *Error) With(key, value string) *Error {
	c := *e
	c.Metadata = make(map[string]string, len(e.Metadata)+1)
	for k, v := range e.Metadata {
		c.Metadata[k] = v
	}
	c.Metadata[key] = value
	return &c
}

// Temporary reports whether the same call may succeed if made again
// later: a server-side failure or unavailability (5xx), a timeout, a rate
// limit, a client gone, a concurrent change (CONFLICT). A refusal of the
// request itself (any other 4xx) is not.
func (e *Error) Temporary() bool {
	switch {
	case e.Status >= 500, e.Status < 400:
		return true
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests, e.Status == 499:
		return true
	}
	return e.Reason == ReasonConflict
}

// GRPCStatus makes *Error usable with status.FromError.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.GRPCCode(), e.Message)
	md := map[string]string{}
	for k, v := range e.Metadata {
		md[k] = v
	}
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: e.Reason, Domain: global.Name, Metadata: md}}
	if secs, err := strconv.Atoi(e.Metadata["retry_after_seconds"]); err == nil && secs > 0 {
		// The retry hint gRPC clients understand.
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(secs) * time.Second)})
	}
	if withInfo, err := st.WithDetails(details...); err == nil {
		return withInfo
	}
	return st
}

// GRPCCode is the gRPC code of e: its reason's own (grpcCodes) when e has
// the reason's listed status, else the code of its HTTP status.
func (e *Error) GRPCCode() codes.Code {
	if status, _, ok := listed(e.Reason); ok && status == e.Status {
		if code, ok := grpcCodeOf(e.Reason); ok {
			return code
		}
	}
	return GRPCCode(e.Status)
}

// statusCodes pairs HTTP statuses with gRPC codes. A status maps to the
// code of its first pair, a code to the status of its first pair.
var statusCodes = []struct {
	http int
	grpc codes.Code
}{
	{http.StatusBadRequest, codes.InvalidArgument},
	{http.StatusUnprocessableEntity, codes.InvalidArgument},
	{http.StatusBadRequest, codes.OutOfRange},
	{http.StatusUnauthorized, codes.Unauthenticated},
	{http.StatusForbidden, codes.PermissionDenied},
	{http.StatusNotFound, codes.NotFound},
	{http.StatusConflict, codes.AlreadyExists},
	{http.StatusConflict, codes.Aborted},
	{http.StatusTooManyRequests, codes.ResourceExhausted},
	{http.StatusRequestEntityTooLarge, codes.ResourceExhausted},
	{http.StatusPreconditionFailed, codes.FailedPrecondition},
	{http.StatusServiceUnavailable, codes.Unavailable},
	{http.StatusGatewayTimeout, codes.DeadlineExceeded},
	{http.StatusRequestTimeout, codes.DeadlineExceeded},
	{499, codes.Canceled},
	{http.StatusNotImplemented, codes.Unimplemented},
	{http.StatusGone, codes.FailedPrecondition},
}

// GRPCCode maps an HTTP status to the matching gRPC code.
func GRPCCode(httpStatus int) codes.Code {
	for _, p := range statusCodes {
		if p.http == httpStatus {
			return p.grpc
		}
	}
	if httpStatus >= 500 {
		return codes.Internal
	}
	return codes.Unknown
}

// HTTPStatus maps a gRPC code to an HTTP status.
func HTTPStatus(c codes.Code) int {
	if c == codes.OK {
		return http.StatusOK
	}
	for _, p := range statusCodes {
		if p.grpc == c {
			return p.http
		}
	}
	return http.StatusInternalServerError
}

// From turns any error into an *Error. Unknown errors become INTERNAL with
// a generic message; the original stays as the cause for the log.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return New(http.StatusGatewayTimeout, ReasonTimeout, "the request took too long").WithCause(err)
	case errors.Is(err, context.Canceled):
		return New(499, ReasonCanceled, "the request was canceled").WithCause(err)
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		reason, httpStatus := st.Code().String(), HTTPStatus(st.Code())
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				reason = info.Reason
			}
		}
		// A listed reason has its own status, which its gRPC code may not
		// tell: 413 and 429 are both ResourceExhausted.
		if s, _, ok := listed(reason); ok {
			httpStatus = s
		}
		return New(httpStatus, reason, "%s", st.Message()).WithCause(err)
	}
	return New(http.StatusInternalServerError, ReasonInternal, "internal error").WithCause(err)
}

// Constructors for the usual cases.

// InvalidArgument names the field that is wrong by the neutral id field;
// the message reads "field: detail" until a transport words it (Named).
func InvalidArgument(field, format string, args ...any) *Error {
	return aboutField(http.StatusBadRequest, ReasonInvalidArgument, field, fmt.Sprintf(format, args...))
}

// AlreadyExists is a value of field that another record holds already,
// worded like InvalidArgument.
func AlreadyExists(field, format string, args ...any) *Error {
	return aboutField(http.StatusConflict, ReasonAlreadyExists, field, fmt.Sprintf(format, args...))
}

// Forbidden is a caller whose role or scopes do not allow the operation.
func Forbidden(format string, args ...any) *Error {
	return New(http.StatusForbidden, ReasonPermissionDenied, format, args...)
}

// Conflict is a concurrent change that got in the way; the client may retry.
func Conflict(format string, args ...any) *Error {
	return New(http.StatusConflict, ReasonConflict, format, args...)
}

// NotFound says which kind of thing is missing; reason like CONVERSATION_NOT_FOUND.
func NotFound(reason, format string, args ...any) *Error {
	return New(http.StatusNotFound, reason, format, args...)
}

// UserErased refuses to attribute anything to user id, or to write onto
// them, named by field: a privacy erasure anonymised them, and what the
// request would store would give the erased person's conversations or row
// an identity again. Nothing undoes an erasure; a new user is the way on.
func UserErased(field string, id int64) *Error {
	return Of(ReasonUserErased, "%s: user %d was erased (anonymised by a privacy erasure); nothing may be attributed to them any more", field, id).
		With("field", field).With("user_id", strconv.FormatInt(id, 10))
}

// Unauthenticated is a missing or bad credential.
func Unauthenticated(format string, args ...any) *Error {
	return New(http.StatusUnauthorized, ReasonUnauthenticated, format, args...)
}

// Unavailable is a dependency that does not answer.
func Unavailable(dependency string) *Error {
	return New(http.StatusServiceUnavailable, ReasonDependencyUnavailable, "%s is unavailable, try again shortly", dependency).With("dependency", dependency)
}

// QueryTimeout is a database statement that the database itself ended at
// the time bound the operation's deadline set on it: a 504 like a deadline
// that passed, but the database answered, so neither it nor the operation
// failed (IsQueryTimeout; the circuit breakers count it as an answer).
func QueryTimeout(cause error) *Error {
	return New(http.StatusGatewayTimeout, ReasonTimeout,
		"the query took longer than the operation allows; narrow the filters or the time range").WithCause(queryTimeout{cause})
}

// queryTimeout marks the cause of a QueryTimeout.
type queryTimeout struct{ cause error }

func (e queryTimeout) Error() string {
	return "the database ended the statement at the operation's deadline: " + e.cause.Error()
}

func (e queryTimeout) Unwrap() error { return e.cause }

// IsQueryTimeout reports whether err is, or wraps, a QueryTimeout.
func IsQueryTimeout(err error) bool {
	var q queryTimeout
	return errors.As(err, &q)
}

// Internal hides cause from the client.
func Internal(cause error) *Error {
	return New(http.StatusInternalServerError, ReasonInternal, "internal error").WithCause(cause)
}

// ReasonOf is the reason From gives err: "" for nil, INTERNAL for an error
// that is not the service's own.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	return From(err).Reason
}

// Is reports whether err, or an error it wraps, has reason.
func Is(err error, reason string) bool {
	return err != nil && ReasonOf(err) == reason
}

// IsNotFound reports whether err is any kind of 404, whatever was missing.
func IsNotFound(err error) bool {
	return err != nil && From(err).Status == http.StatusNotFound
}

// IsAlreadyExists reports whether err is ALREADY_EXISTS.
func IsAlreadyExists(err error) bool {
	return Is(err, ReasonAlreadyExists)
}

// IsConflict reports whether err is any 409: a key taken already or a
// concurrent change.
func IsConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusConflict
}
