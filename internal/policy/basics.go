package policy

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/errs"
)

// RequestID keeps a well-formed incoming X-Request-Id or makes a new one, and
// echoes it on the response.
func RequestID() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (any, error) {
			info := InfoFrom(ctx)
			id := info.Header(HeaderRequestID)
			if !validRequestID(id) {
				id = NewRequestID()
			}
			info.SetRequestID(id)
			info.SetHeader(HeaderRequestID, id)
			return next(ctx, req)
		}
	}
}

// NewRequestID returns 128 random bits in hex. Ids need to be unique, not
// secret, so the fast ChaCha8 generator of math/rand/v2 serves.
func NewRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// Recover turns a panic into 500 / Internal carrying the request id; the
// stack goes to the log, never to the client.
func Recover(log zerolog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (resp any, err error) {
			defer func() {
				if r := recover(); r != nil {
					if r == http.ErrAbortHandler {
						panic(r)
					}
					info := InfoFrom(ctx)
					log.Error().Str("operation", info.Operation).Str("request_id", info.RequestID()).
						Str("panic", fmt.Sprint(r)).Bytes("stack", debug.Stack()).Msg("handler panicked")
					err = errs.Internal(fmt.Errorf("panic: %v", r)).With("request_id", info.RequestID())
				}
			}()
			return next(ctx, req)
		}
	}
}

// Outcome is what one call ended with, for the access log and metrics.
type Outcome struct {
	Status  int
	Reason  string
	Latency time.Duration
	Err     *errs.Error
}

// OutcomeOf classifies a finished call.
func OutcomeOf(info *Info, err error, latency time.Duration) Outcome {
	if err == nil {
		return Outcome{Status: info.SuccessStatus(), Latency: latency}
	}
	e := errs.From(err)
	return Outcome{Status: e.Status, Reason: e.Reason, Latency: latency, Err: e}
}

// Observer is told about every finished call (metrics).
type Observer interface {
	Observe(info *Info, out Outcome)
}

// AccessLog writes one line per call: operation, status, latency, tenant,
// request id and trace id; and reports the outcome to observers. A call
// whose client went away is 499 CANCELED (ClientGone), logged at info.
func AccessLog(log zerolog.Logger, observers ...Observer) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (any, error) {
			info := InfoFrom(ctx)
			start := info.Start
			if start.IsZero() {
				start = time.Now()
			}
			resp, err := next(ctx, req)
			err = ClientGone(ctx, err)
			out := OutcomeOf(info, err, time.Since(start))
			for _, o := range observers {
				o.Observe(info, out)
			}
			level := zerolog.InfoLevel
			switch {
			case out.Status == StatusClientClosed:
				// The client left; nothing went wrong here.
			case out.Status >= 500:
				level = zerolog.ErrorLevel
			case out.Status >= 400:
				level = zerolog.WarnLevel
			}
			ev := log.WithLevel(level).
				Str("operation", info.Operation).
				Str("transport", info.Transport).
				Int("status", out.Status).
				Dur("latency_ms", out.Latency).
				Str("request_id", info.RequestID()).
				Str("client_ip", info.ClientIP)
			if id := info.TraceID(); id != "" {
				ev = ev.Str("trace_id", id)
			}
			if c := info.Caller(); c.TenantID != "" {
				ev = ev.Str("tenant", c.TenantID)
				if c.AppID != "" {
					ev = ev.Str("app", c.AppID)
				}
			}
			if out.Err != nil {
				ev = ev.Str("reason", out.Reason)
				if out.Status >= 500 {
					ev = ev.Err(out.Err)
				}
			}
			ev.Msg("request")
			return resp, err
		}
	}
}

// Timeout bounds each call by the operation's deadline, or def. The
// deadline is armed only if the call waits on it (see withDeadline).
func Timeout(def time.Duration, perOperation map[string]time.Duration) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (any, error) {
			info := InfoFrom(ctx)
			d := def
			if v, ok := perOperation[info.Operation]; ok {
				d = v
			}
			if d <= 0 {
				return next(ctx, req)
			}
			dl := newDeadline(ctx, info.Start, d)
			defer dl.release()
			return next(dl, req)
		}
	}
}

// SizeLimit refuses a declared body above max with 413. Bodies of unknown
// length are bounded by the transport (http.MaxBytesReader, gRPC max
// receive size), which answer 413 / ResourceExhausted the same way.
func SizeLimit(max int64) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (any, error) {
			if n := InfoFrom(ctx).ContentLength; max > 0 && n > max {
				return nil, errs.New(http.StatusRequestEntityTooLarge, errs.ReasonPayloadTooLarge,
					"the request body is %d bytes, above the limit of %d", n, max).With("limit_bytes", fmt.Sprint(max))
			}
			return next(ctx, req)
		}
	}
}
