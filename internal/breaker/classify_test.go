package breaker

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/errs"
)

var refused = &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}

func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// expiredCtx is a context whose deadline has passed.
func expiredCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	t.Cleanup(cancel)
	return ctx
}

func TestClassify(t *testing.T) {
	bg := context.Background()
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want Outcome
	}{
		{"no error", bg, nil, Success},
		{"not found", bg, errs.NotFound("CONVERSATION_NOT_FOUND", "no such conversation"), Success},
		{"validation", bg, errs.InvalidArgument("page_size", "too big"), Success},
		{"auth", bg, errs.Unauthenticated("expired"), Success},
		{"forbidden", bg, errs.New(http.StatusForbidden, errs.ReasonPermissionDenied, "no"), Success},
		{"rate limited", bg, errs.New(http.StatusTooManyRequests, errs.ReasonRateLimited, "slow down"), Success},
		{"conflict", bg, errs.New(http.StatusConflict, errs.ReasonConflict, "taken"), Success},
		{"not implemented is an answer", bg, errs.New(http.StatusNotImplemented, errs.ReasonInternal, "no"), Success},
		{"dependency unavailable", bg, errs.Unavailable("mysql"), Failure},
		{"internal", bg, errs.Internal(errors.New("boom")), Failure},
		{"timeout as errs", bg, errs.From(context.DeadlineExceeded), Failure},
		// A 504 all the same, but the database answered it in time.
		{"statement timeout of a heavy call", WithHeavy(bg), errs.QueryTimeout(errors.New("max_statement_time exceeded")), Success},
		{"wrapped statement timeout of a heavy call", WithHeavy(expiredCtx(t)), fmt.Errorf("stats: %w", errs.QueryTimeout(errors.New("max_statement_time exceeded"))), Success},
		{"statement timeout of another call", bg, errs.QueryTimeout(errors.New("max_statement_time exceeded")), Failure},
		{"timeout once the deadline passed", expiredCtx(t), context.DeadlineExceeded, Failure},
		{"canceled as errs", bg, errs.From(context.Canceled), Ignore},
		{"deadline", bg, context.DeadlineExceeded, Failure},
		{"wrapped deadline", bg, fmt.Errorf("query: %w", context.DeadlineExceeded), Failure},
		{"canceled", bg, context.Canceled, Ignore},
		{"wrapped canceled", bg, fmt.Errorf("query: %w", context.Canceled), Ignore},
		{"any error once the caller left", canceledCtx(), driver.ErrBadConn, Ignore},
		{"nil ctx", nil, context.DeadlineExceeded, Failure},
		{"connection refused", bg, refused, Failure},
		{"eof", bg, io.ErrUnexpectedEOF, Failure},
		{"bad connection", bg, driver.ErrBadConn, Failure},
		{"mysql invalid connection", bg, mysql.ErrInvalidConn, Failure},
		{"unknown error", bg, errors.New("something odd"), Failure},
		{"grpc unavailable", bg, status.Error(codes.Unavailable, "down"), Failure},
		{"grpc deadline", bg, status.Error(codes.DeadlineExceeded, "slow"), Failure},
		{"grpc internal", bg, status.Error(codes.Internal, "bug"), Failure},
		{"grpc unknown", bg, status.Error(codes.Unknown, "?"), Failure},
		{"grpc not found", bg, status.Error(codes.NotFound, "none"), Success},
		{"grpc invalid", bg, status.Error(codes.InvalidArgument, "bad"), Success},
		{"grpc unauthenticated", bg, status.Error(codes.Unauthenticated, "who"), Success},
		{"grpc permission", bg, status.Error(codes.PermissionDenied, "no"), Success},
		{"grpc exhausted", bg, status.Error(codes.ResourceExhausted, "slow down"), Success},
		{"grpc canceled", bg, status.Error(codes.Canceled, "left"), Ignore},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.ctx, tc.err); got != tc.want {
				t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}

func TestClassifyDB(t *testing.T) {
	bg := context.Background()
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want Outcome
	}{
		{"no error", bg, nil, Success},
		{"record not found", bg, gorm.ErrRecordNotFound, Success},
		{"wrapped not found", bg, fmt.Errorf("conversation 7: %w", gorm.ErrRecordNotFound), Success},
		{"duplicate key", bg, gorm.ErrDuplicatedKey, Success},
		{"foreign key", bg, gorm.ErrForeignKeyViolated, Success},
		{"mysql duplicate entry", bg, &mysql.MySQLError{Number: 1062, Message: "Duplicate entry"}, Success},
		{"mysql syntax", bg, &mysql.MySQLError{Number: 1064, Message: "syntax"}, Success},
		{"mysql deadlock", bg, &mysql.MySQLError{Number: 1213, Message: "deadlock"}, Success},
		{"missing where", bg, gorm.ErrMissingWhereClause, Ignore},
		{"invalid value", bg, gorm.ErrInvalidValue, Ignore},
		{"too many connections", bg, &mysql.MySQLError{Number: 1040, Message: "Too many connections"}, Failure},
		{"lock wait timeout", bg, &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout"}, Failure},
		{"read only", bg, &mysql.MySQLError{Number: 1290, Message: "--read-only"}, Failure},
		// The server ending a statement at the bound the deadline set is
		// its answer; the same deadline passing without one is not.
		{"mariadb statement timeout of a heavy call", WithHeavy(bg), &mysql.MySQLError{Number: 1969, Message: "max_statement_time"}, Success},
		{"mysql query timeout of a heavy call", WithHeavy(bg), &mysql.MySQLError{Number: 3024, Message: "maximum statement execution time exceeded"}, Success},
		{"statement timeout of a heavy call once the deadline passed", WithHeavy(expiredCtx(t)), &mysql.MySQLError{Number: 1969, Message: "max_statement_time"}, Success},
		{"mariadb statement timeout of another call", bg, &mysql.MySQLError{Number: 1969, Message: "max_statement_time"}, Failure},
		{"mysql query timeout of another call", bg, &mysql.MySQLError{Number: 3024, Message: "maximum statement execution time exceeded"}, Failure},
		{"no answer by the deadline", expiredCtx(t), context.DeadlineExceeded, Failure},
		{"statement timeout as errs", WithHeavy(bg), errs.QueryTimeout(&mysql.MySQLError{Number: 1969, Message: "max_statement_time"}), Success},
		{"connection refused", bg, refused, Failure},
		{"bad connection", bg, driver.ErrBadConn, Failure},
		{"deadline", bg, context.DeadlineExceeded, Failure},
		{"canceled", bg, context.Canceled, Ignore},
		{"already unavailable", bg, errs.Unavailable("mysql"), Failure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassifyDB(tc.ctx, tc.err); got != tc.want {
				t.Errorf("ClassifyDB(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}

func TestByStatus(t *testing.T) {
	for code, want := range map[int]Outcome{
		200: Success, 201: Success, 304: Success, 400: Success, 401: Success, 403: Success,
		404: Success, 409: Success, 413: Success, 429: Success, 499: Ignore,
		500: Failure, 501: Success, 502: Failure, 503: Failure, 504: Failure,
	} {
		if got := ByStatus(code); got != want {
			t.Errorf("ByStatus(%d) = %s, want %s", code, got, want)
		}
	}
}

// A call ending after the deadline its caller chose is the caller's doing,
// whatever the error; before that deadline, or with none marked, a timeout
// is the dependency's.
func TestClassifyCallerDeadline(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	passed := WithCallerDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	ahead := WithCallerDeadline(context.Background(), time.Now().Add(time.Hour))
	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want Outcome
	}{
		{"caller's deadline passed, context error", passed, context.DeadlineExceeded, Ignore},
		{"caller's deadline passed, dial timeout", passed, dial, Ignore},
		{"caller's deadline passed, through ClassifyDB", passed, fmt.Errorf("query: %w", dial), Ignore},
		{"caller's deadline ahead", ahead, context.DeadlineExceeded, Failure},
		{"no caller deadline", context.Background(), dial, Failure},
	} {
		got := Classify(c.ctx, c.err)
		if c.name == "caller's deadline passed, through ClassifyDB" {
			got = ClassifyDB(c.ctx, c.err)
		}
		if got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
