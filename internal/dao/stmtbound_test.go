package dao

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/errs"
)

func TestBoundQuery(t *testing.T) {
	const bound = 1900 * time.Millisecond
	cases := []struct {
		name    string
		flavour flavour
		query   string
		want    string
	}{
		{"mariadb select", flavourMariaDB, "SELECT * FROM audit_logs WHERE operation = ?",
			"SET STATEMENT max_statement_time=1.900 FOR SELECT * FROM audit_logs WHERE operation = ?"},
		{"mariadb insert", flavourMariaDB, "INSERT INTO t (a) VALUES (?)", "SET STATEMENT max_statement_time=1.900 FOR INSERT INTO t (a) VALUES (?)"},
		{"mariadb update", flavourMariaDB, "UPDATE t SET a = ?", "SET STATEMENT max_statement_time=1.900 FOR UPDATE t SET a = ?"},
		{"mariadb delete", flavourMariaDB, "DELETE FROM t WHERE a = ?", "SET STATEMENT max_statement_time=1.900 FOR DELETE FROM t WHERE a = ?"},
		{"mariadb replace", flavourMariaDB, "REPLACE INTO t VALUES (1)", "SET STATEMENT max_statement_time=1.900 FOR REPLACE INTO t VALUES (1)"},
		{"mariadb with", flavourMariaDB, "WITH x AS (SELECT 1) SELECT * FROM x", "SET STATEMENT max_statement_time=1.900 FOR WITH x AS (SELECT 1) SELECT * FROM x"},
		{"mariadb lower case", flavourMariaDB, "\n\tselect 1", "SET STATEMENT max_statement_time=1.900 FOR \n\tselect 1"},
		{"mariadb set", flavourMariaDB, "SET NAMES utf8mb4", "SET NAMES utf8mb4"},
		{"mariadb ddl", flavourMariaDB, "ALTER TABLE t ADD COLUMN b INT", "ALTER TABLE t ADD COLUMN b INT"},
		{"mariadb begin", flavourMariaDB, "BEGIN", "BEGIN"},
		{"mariadb named lock", flavourMariaDB, "SELECT GET_LOCK(?, 0)", "SELECT GET_LOCK(?, 0)"},
		{"mariadb lock release", flavourMariaDB, "select release_lock(?)", "select release_lock(?)"},
		{"mariadb parenthesised", flavourMariaDB, "(SELECT 1) UNION (SELECT 2)", "(SELECT 1) UNION (SELECT 2)"},
		{"mysql select", flavourMySQL, "SELECT * FROM audit_logs WHERE operation = ?",
			"SELECT /*+ MAX_EXECUTION_TIME(1900) */ * FROM audit_logs WHERE operation = ?"},
		{"mysql select after white space", flavourMySQL, "  select\ncount(*) from t", "  select /*+ MAX_EXECUTION_TIME(1900) */\ncount(*) from t"},
		{"mysql select with a hint", flavourMySQL, "SELECT /*+ NO_ICP(t) */ a FROM t", "SELECT /*+ MAX_EXECUTION_TIME(1900) NO_ICP(t) */ a FROM t"},
		{"mysql select for update", flavourMySQL, "SELECT a FROM t WHERE id = ? FOR UPDATE", "SELECT /*+ MAX_EXECUTION_TIME(1900) */ a FROM t WHERE id = ? FOR UPDATE"},
		// MySQL bounds only SELECTs.
		{"mysql insert", flavourMySQL, "INSERT INTO t (a) VALUES (?)", "INSERT INTO t (a) VALUES (?)"},
		{"mysql update", flavourMySQL, "UPDATE t SET a = ?", "UPDATE t SET a = ?"},
		{"mysql with", flavourMySQL, "WITH x AS (SELECT 1) SELECT * FROM x", "WITH x AS (SELECT 1) SELECT * FROM x"},
		{"mysql named lock", flavourMySQL, "SELECT GET_LOCK(?, 0)", "SELECT GET_LOCK(?, 0)"},
		{"mysql selected", flavourMySQL, "SELECTED", "SELECTED"},
		{"unknown server", flavourUnknown, "SELECT 1", "SELECT 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := boundQuery(tc.flavour, tc.query, bound); got != tc.want {
				t.Errorf("boundQuery(%q)\n got %q\nwant %q", tc.query, got, tc.want)
			}
		})
	}
}

// The server ends a statement a little before the context does, so its
// answer arrives first; never with a bound of 0, which is none.
func TestServerBound(t *testing.T) {
	for left, want := range map[time.Duration]time.Duration{
		30 * time.Second:       30*time.Second - 250*time.Millisecond,
		2 * time.Second:        1750 * time.Millisecond,
		time.Second:            800 * time.Millisecond,
		200 * time.Millisecond: 160 * time.Millisecond,
		2 * time.Millisecond:   1600 * time.Microsecond,
		0:                      time.Millisecond,
		-time.Second:           time.Millisecond,
	} {
		if got := serverBound(left); got != want {
			t.Errorf("serverBound(%s) = %s, want %s", left, got, want)
		}
	}
	if got := seconds(1600 * time.Microsecond); got != "0.001" {
		t.Errorf("seconds(1.6ms) = %s, want 0.001", got)
	}
}

// Only a context with a deadline bounds its statements: the migrations, the
// reindex command and jobs without one run theirs unbounded.
func TestBoundedStatementFollowsTheDeadline(t *testing.T) {
	const q = "SELECT * FROM conversations"
	if got := boundedStatement(context.Background(), flavourMariaDB, q); got != q {
		t.Errorf("without a deadline: %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var secs float64
	if _, err := fmt.Sscanf(boundedStatement(ctx, flavourMariaDB, q), "SET STATEMENT max_statement_time=%f FOR "+q, &secs); err != nil {
		t.Fatalf("with a deadline: %v", err)
	}
	if secs < 9.7 || secs > 9.75 {
		t.Errorf("a statement 10s before its deadline bounded at %.3fs, want 9.7..9.75", secs)
	}
}

// The server ending a statement at its bound is a 504 that says the query
// needs longer than the operation allows, and counts as the database's
// answer, not its failure, for the database's breaker and the operation's.
func TestQueryTimeoutIsAnAnsweredGatewayTimeout(t *testing.T) {
	for _, me := range []*mysql.MySQLError{
		{Number: 1969, SQLState: [5]byte{'7', '0', '1', '0', '0'}, Message: "Query execution was interrupted (max_statement_time exceeded)"},
		{Number: 3024, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}, Message: "Query execution was interrupted, maximum statement execution time exceeded"},
	} {
		t.Run(fmt.Sprint(me.Number), func(t *testing.T) {
			// As the dialector hands it over (keptCause), once the
			// context's deadline may have passed.
			raw := keepCause(keptMySQLError{}.Translate(me), me)
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
			defer cancel()
			// In a heavy call it is the database's answer; in any other,
			// a sign the database is slow for everyone.
			if got := breaker.ClassifyDB(ctx, raw); got != breaker.Failure {
				t.Errorf("ClassifyDB outside a heavy call = %s, want failure", got)
			}
			ctx = breaker.WithHeavy(ctx)
			if got := breaker.ClassifyDB(ctx, raw); got != breaker.Success {
				t.Errorf("ClassifyDB = %s, want success", got)
			}
			err := dbError(fmt.Errorf("stats: %w", raw), nil)
			e := errs.From(err)
			if e.Status != http.StatusGatewayTimeout || e.Reason != errs.ReasonTimeout ||
				e.Message != "the query took longer than the operation allows; narrow the filters or the time range" {
				t.Errorf("dbError = %d %s %q", e.Status, e.Reason, e.Message)
			}
			if code := status.Code(e); code != codes.DeadlineExceeded {
				t.Errorf("gRPC code %s, want DeadlineExceeded", code)
			}
			if !errs.IsQueryTimeout(err) || !errors.As(err, new(*mysql.MySQLError)) {
				t.Errorf("dbError = %v: lost the query timeout or its cause", err)
			}
			if got := breaker.Classify(ctx, err); got != breaker.Success {
				t.Errorf("Classify = %s, want success", got)
			}
		})
	}
	// The context's deadline passing without the server's answer is the
	// database failing to answer.
	err := dbError(context.DeadlineExceeded, nil)
	if errs.IsQueryTimeout(err) || breaker.Classify(context.Background(), err) != breaker.Failure ||
		breaker.ClassifyDB(context.Background(), err) != breaker.Failure {
		t.Errorf("a deadline without an answer: %v", err)
	}
	if e := errs.From(err); e.Status != http.StatusGatewayTimeout || e.Reason != errs.ReasonTimeout {
		t.Errorf("a deadline without an answer maps to %d %s", e.Status, e.Reason)
	}
}

// fakeConn prepares fakeStmts; fakeStmt runs with exec's error and closes
// with closeErr.
type fakeConn struct {
	mysqlConn
	stmt *fakeStmt
}

func (c fakeConn) PrepareContext(context.Context, string) (driver.Stmt, error) { return c.stmt, nil }

type fakeStmt struct {
	mysqlStmt
	exec, closeErr error
	closed         int
}

func (s *fakeStmt) ExecContext(context.Context, []driver.NamedValue) (driver.Result, error) {
	return nil, s.exec
}

func (s *fakeStmt) Close() error { s.closed++; return s.closeErr }

// A statement prepared for its call's bound is closed after it, and a
// failing close never changes what the call answers: driver.ErrBadConn
// from the close would make database/sql run again a write the server may
// have run.
func TestABoundStatementsCloseDoesNotChangeItsAnswer(t *testing.T) {
	for _, execErr := range []error{nil, mysql.ErrInvalidConn} {
		s := &fakeStmt{exec: execErr, closeErr: driver.ErrBadConn}
		stmt := boundedStmt{mysqlStmt: s, conn: boundedConn{mysqlConn: fakeConn{stmt: s}, flavour: flavourMariaDB}, query: "UPDATE t SET n = n + 1"}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		_, err := stmt.ExecContext(ctx, nil)
		cancel()
		if !errors.Is(err, execErr) || errors.Is(err, driver.ErrBadConn) {
			t.Errorf("exec answering %v, close %v: answered %v", execErr, s.closeErr, err)
		}
		if s.closed != 1 {
			t.Errorf("the bound statement was closed %d times, want 1", s.closed)
		}
	}
}
