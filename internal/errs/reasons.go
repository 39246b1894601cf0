package errs

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// The reasons of the service; each one is listed in reasons below.
const (
	ReasonInvalidArgument       = "INVALID_ARGUMENT"
	ReasonNotFound              = "NOT_FOUND"
	ReasonUnauthenticated       = "UNAUTHENTICATED"
	ReasonPermissionDenied      = "PERMISSION_DENIED"
	ReasonConflict              = "CONFLICT"
	ReasonAlreadyExists         = "ALREADY_EXISTS"
	ReasonPayloadTooLarge       = "PAYLOAD_TOO_LARGE"
	ReasonUnprocessable         = "UNPROCESSABLE_ENTITY"
	ReasonRateLimited           = "RATE_LIMITED"
	ReasonOverCapacity          = "OVER_CAPACITY"
	ReasonDependencyUnavailable = "DEPENDENCY_UNAVAILABLE"
	ReasonTimeout               = "DEADLINE_EXCEEDED"
	ReasonCanceled              = "CANCELED"
	ReasonInternal              = "INTERNAL"
	ReasonUnavailable           = "UNAVAILABLE"

	ReasonConversationNotFound = "CONVERSATION_NOT_FOUND"
	ReasonUserNotFound         = "USER_NOT_FOUND"
	ReasonDepartmentNotFound   = "DEPARTMENT_NOT_FOUND"
	ReasonTrackerNotFound      = "TRACKER_NOT_FOUND"
	ReasonCommentNotFound      = "COMMENT_NOT_FOUND"
	ReasonDealNotFound         = "DEAL_NOT_FOUND"
	ReasonTenantNotFound       = "TENANT_NOT_FOUND"
	ReasonAppNotFound          = "APP_NOT_FOUND"
	ReasonRefreshTokenNotFound = "REFRESH_TOKEN_NOT_FOUND"
	ReasonUserDisabled         = "USER_DISABLED"
	ReasonTokenRevoked         = "TOKEN_REVOKED"
	ReasonConversationConflict = "CONVERSATION_CONFLICT"
	ReasonMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	ReasonUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"

	ReasonAppDisabled = "APP_DISABLED"
	ReasonLastAdmin   = "LAST_ADMIN"
	// ReasonClientTimeout ends a request body or a client stream the
	// client did not finish sending within its deadline: the client's
	// slowness, not the server's (HTTP 408, gRPC DeadlineExceeded, and no
	// failure to a circuit breaker).
	ReasonClientTimeout   = "CLIENT_TIMEOUT"
	ReasonErasureNotFound = "ERASURE_NOT_FOUND"
	// ReasonEventCursorExpired: events after the cursor were trimmed by
	// retention; the reader missed them and must resynchronise.
	ReasonEventCursorExpired = "EVENT_CURSOR_EXPIRED"

	ReasonSubscriptionNotFound = "SUBSCRIPTION_NOT_FOUND"
	ReasonDeliveryNotFound     = "DELIVERY_NOT_FOUND"

	// ReasonAppQuotaExceeded: the tenant has as many apps as it may; one
	// must be deleted before another is created (not a retry-later 429).
	ReasonAppQuotaExceeded = "APP_QUOTA_EXCEEDED"
	// ReasonSubscriptionQuotaExceeded: the app has as many webhook
	// subscriptions as it may (webhooks.max_subscriptions_per_app); one
	// must be deleted before another is created.
	ReasonSubscriptionQuotaExceeded = "SUBSCRIPTION_QUOTA_EXCEEDED"
	// ReasonTrackerQuotaExceeded: the tenant has as many trackers as it
	// may (trackers.max_per_tenant); one must be deleted before another is
	// created.
	ReasonTrackerQuotaExceeded = "TRACKER_QUOTA_EXCEEDED"
	// ReasonRedeliveryQuotaExceeded: the subscription has as many
	// redeliveries pending as it may (webhooks.max_pending_redeliveries);
	// another may be asked for once some are delivered or failed.
	ReasonRedeliveryQuotaExceeded = "REDELIVERY_QUOTA_EXCEEDED"

	// ReasonErasureNotAwaitingConfirmation: the erasure is past its
	// confirmation (confirmed, running or done); confirming it again
	// changes nothing, and retrying will not either.
	ReasonErasureNotAwaitingConfirmation = "ERASURE_NOT_AWAITING_CONFIRMATION"
	// ReasonRetentionConfirmationRequired: a shortened retention would
	// delete more conversations than privacy.confirm_over at its next
	// run; the change is made when sent again with their number confirmed.
	ReasonRetentionConfirmationRequired = "RETENTION_CONFIRMATION_REQUIRED"
	// ReasonUserErased: the user was anonymised by a privacy erasure;
	// nothing may be attributed to them or written onto them any more.
	ReasonUserErased = "USER_ERASED"
)

// reasons gives every reason its HTTP status and its envelope code, the
// status times 100 plus the reason's number within that status. Clients
// match on codes, so a code is never changed or reused: a new reason takes
// the next free number of its status.
var reasons = []struct {
	reason string
	status int
	code   int
}{
	{ReasonInvalidArgument, http.StatusBadRequest, 40001},
	{ReasonUnauthenticated, http.StatusUnauthorized, 40101},
	{ReasonUserDisabled, http.StatusUnauthorized, 40102},
	{ReasonTokenRevoked, http.StatusUnauthorized, 40103},
	{ReasonPermissionDenied, http.StatusForbidden, 40301},
	{ReasonNotFound, http.StatusNotFound, 40401},
	{ReasonConversationNotFound, http.StatusNotFound, 40402},
	{ReasonUserNotFound, http.StatusNotFound, 40403},
	{ReasonDepartmentNotFound, http.StatusNotFound, 40404},
	{ReasonTrackerNotFound, http.StatusNotFound, 40405},
	{ReasonCommentNotFound, http.StatusNotFound, 40406},
	{ReasonDealNotFound, http.StatusNotFound, 40407},
	{ReasonTenantNotFound, http.StatusNotFound, 40408},
	{ReasonAppNotFound, http.StatusNotFound, 40409},
	{ReasonRefreshTokenNotFound, http.StatusNotFound, 40410},
	{ReasonMethodNotAllowed, http.StatusMethodNotAllowed, 40501},
	{ReasonConflict, http.StatusConflict, 40901},
	{ReasonAlreadyExists, http.StatusConflict, 40902},
	{ReasonConversationConflict, http.StatusConflict, 40903},
	{ReasonPayloadTooLarge, http.StatusRequestEntityTooLarge, 41301},
	{ReasonUnsupportedMediaType, http.StatusUnsupportedMediaType, 41501},
	{ReasonUnprocessable, http.StatusUnprocessableEntity, 42201},
	{ReasonRateLimited, http.StatusTooManyRequests, 42901},
	{ReasonOverCapacity, http.StatusTooManyRequests, 42902},
	{ReasonCanceled, 499, 49901},
	{ReasonInternal, http.StatusInternalServerError, 50001},
	{ReasonDependencyUnavailable, http.StatusServiceUnavailable, 50301},
	{ReasonUnavailable, http.StatusServiceUnavailable, 50302},
	{ReasonTimeout, http.StatusGatewayTimeout, 50401},
	{ReasonAppDisabled, http.StatusUnauthorized, 40104},
	{ReasonLastAdmin, http.StatusConflict, 40904},
	{ReasonClientTimeout, http.StatusRequestTimeout, 40801},
	{ReasonErasureNotFound, http.StatusNotFound, 40411},
	{ReasonEventCursorExpired, http.StatusGone, 41001},
	{ReasonSubscriptionNotFound, http.StatusNotFound, 40431},
	{ReasonDeliveryNotFound, http.StatusNotFound, 40432},
	{ReasonAppQuotaExceeded, http.StatusConflict, 40941},
	{ReasonSubscriptionQuotaExceeded, http.StatusConflict, 40942},
	{ReasonTrackerQuotaExceeded, http.StatusConflict, 40943},
	{ReasonErasureNotAwaitingConfirmation, http.StatusConflict, 40905},
	{ReasonRetentionConfirmationRequired, http.StatusConflict, 40906},
	{ReasonUserErased, http.StatusConflict, 40907},
	{ReasonRedeliveryQuotaExceeded, http.StatusConflict, 40944},
}

// grpcCodes gives the reasons whose HTTP status alone maps to a wrong gRPC
// code their own. 409 alone is ALREADY_EXISTS, which tells a client that
// what it creates is there already and not to retry; a concurrent change is
// ABORTED (retry), and a state that forbids the call is FAILED_PRECONDITION
// (change the state first, then call again). Every 409 reason is here, so
// that a new one chooses (TestEveryConflictChoosesItsGRPCCode).
var grpcCodes = []struct {
	reason string
	code   codes.Code
}{
	{ReasonConflict, codes.Aborted},
	{ReasonAlreadyExists, codes.AlreadyExists},
	// The origin id is another request's conversation: what the request
	// would create exists, and sending it again gets the same answer.
	{ReasonConversationConflict, codes.AlreadyExists},
	// Nothing exists already: the call waits for another active admin.
	{ReasonLastAdmin, codes.FailedPrecondition},
	// The tenant has all the apps it may have: a quota, spent until an
	// admin deletes one.
	{ReasonAppQuotaExceeded, codes.ResourceExhausted},
	// The app has all the subscriptions it may have: likewise a quota.
	{ReasonSubscriptionQuotaExceeded, codes.ResourceExhausted},
	// The tenant has all the trackers it may have: likewise a quota.
	{ReasonTrackerQuotaExceeded, codes.ResourceExhausted},
	// The subscription has all the redeliveries pending it may have: a
	// quota, given back as they are delivered or failed.
	{ReasonRedeliveryQuotaExceeded, codes.ResourceExhausted},
	// The job's state forbids the call, and will not change back.
	{ReasonErasureNotAwaitingConfirmation, codes.FailedPrecondition},
	// The change waits for its deletions to be confirmed.
	{ReasonRetentionConfirmationRequired, codes.FailedPrecondition},
	// The user is anonymised for good: a new user is the way on.
	{ReasonUserErased, codes.FailedPrecondition},
}

// grpcCodeOf is the code grpcCodes gives reason, if any.
func grpcCodeOf(reason string) (codes.Code, bool) {
	for _, g := range grpcCodes {
		if g.reason == reason {
			return g.code, true
		}
	}
	return codes.Unknown, false
}

// listed finds reason in reasons.
func listed(reason string) (status, code int, ok bool) {
	for _, r := range reasons {
		if r.reason == reason {
			return r.status, r.code, true
		}
	}
	return 0, 0, false
}

// Code is the stable non-zero number of the HTTP envelope, e.g. 40401 for
// NOT_FOUND: the reason's code in the list when the error has the listed
// status, else the status times 100. A listed reason under another status
// does not borrow its code, so no two kinds of error share one.
func (e *Error) Code() int {
	if status, code, ok := listed(e.Reason); ok && status == e.Status {
		return code
	}
	return e.Status * 100
}

// Of makes an Error with the status listed for reason. A reason that is not
// listed gets 500, which the missing entry makes easy to spot.
func Of(reason, format string, args ...any) *Error {
	status, _, ok := listed(reason)
	if !ok {
		status = http.StatusInternalServerError
	}
	return New(status, reason, format, args...)
}
