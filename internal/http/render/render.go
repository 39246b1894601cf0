// Package render writes every HTTP response body: the success envelope and
// the error envelope of the product contract.
package render

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/errs"
)

// Envelope is the body of every /api/v1 response.
type Envelope struct {
	Code      int               `json:"code"`
	Msg       string            `json:"msg"`
	Reason    string            `json:"reason,omitempty"`
	Data      any               `json:"data,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	RequestID string            `json:"request_id"`
}

// RequestID is the id the request-id middleware put on the response.
func RequestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// OK writes 200 with data.
func OK(c echo.Context, data any) error {
	return JSON(c, http.StatusOK, data)
}

// JSON writes status with data in the success envelope.
func JSON(c echo.Context, status int, data any) error {
	return c.JSON(status, Envelope{Code: 0, Msg: "ok", Data: data, RequestID: RequestID(c)})
}

// Error writes err as the error envelope with its real HTTP status.
func Error(c echo.Context, err error) error {
	e := FromEcho(err)
	if secs := e.Metadata["retry_after_seconds"]; secs != "" && e.Status == http.StatusTooManyRequests && c.Response().Header().Get("Retry-After") == "" {
		// A refusal that names its wait (the rate limit, sign-in
		// throttling) says it the HTTP way too.
		c.Response().Header().Set("Retry-After", secs)
	}
	return c.JSON(e.Status, Envelope{
		Code:      e.Code(),
		Msg:       e.Message,
		Reason:    e.Reason,
		Metadata:  e.Metadata,
		RequestID: RequestID(c),
	})
}

// FromEcho converts Echo's own errors (unknown route, body too large, bad
// binding) into the service error type.
func FromEcho(err error) *errs.Error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errs.New(http.StatusRequestEntityTooLarge, errs.ReasonPayloadTooLarge,
			"the request body is above the limit of %d bytes", tooLarge.Limit)
	}
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		return errs.From(err)
	}
	msg := http.StatusText(he.Code)
	if m, ok := he.Message.(string); ok && m != "" {
		msg = m
	}
	var reason string
	switch he.Code {
	case http.StatusNotFound:
		reason, msg = errs.ReasonNotFound, "no such route"
	case http.StatusMethodNotAllowed:
		reason = "METHOD_NOT_ALLOWED"
	case http.StatusRequestEntityTooLarge:
		reason, msg = errs.ReasonPayloadTooLarge, "the request body is too large"
	case http.StatusUnsupportedMediaType:
		reason = "UNSUPPORTED_MEDIA_TYPE"
	case http.StatusBadRequest:
		reason = errs.ReasonInvalidArgument
		switch {
		case errors.Is(he.Internal, io.ErrUnexpectedEOF) || errors.Is(he.Internal, io.EOF):
			msg = "the JSON body ends early: it is truncated or empty"
		case he.Internal != nil && !strings.Contains(msg, he.Internal.Error()):
			msg = fmt.Sprintf("%s: %v", msg, he.Internal)
		}
	case http.StatusUnauthorized:
		reason = errs.ReasonUnauthenticated
	case http.StatusTooManyRequests:
		reason = errs.ReasonRateLimited
	case http.StatusServiceUnavailable:
		reason = errs.ReasonDependencyUnavailable
	default:
		if he.Code >= 500 {
			return errs.Internal(err)
		}
		reason = http.StatusText(he.Code)
	}
	return errs.New(he.Code, reason, "%s", msg)
}

// ErrorHandler is Echo's HTTPErrorHandler: one envelope for every error,
// server errors logged with their cause.
func ErrorHandler(log zerolog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		e := FromEcho(err)
		if e.Reason == errs.ReasonCanceled {
			return // the client has gone; there is nobody to answer
		}
		if e.Status >= 500 {
			log.Error().Err(err).Str("request_id", RequestID(c)).Str("path", c.Path()).Msg("request failed")
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(e.Status)
			return
		}
		if werr := Error(c, e); werr != nil {
			log.Warn().Err(werr).Msg("writing the error response failed")
		}
	}
}
