package dao

import (
	"context"
	"database/sql/driver"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// A statement run for a context with a deadline is bounded on the MySQL
// server itself, to end there a little before the deadline: the driver
// only closes its connection when the context ends, and the server, told
// nothing, runs the statement on for as long as it takes (a scan of
// millions of rows for a request answered 504 long before). Bounded, the
// server ends the statement and answers with its own error (MariaDB 1969
// ER_STATEMENT_TIMEOUT, MySQL 3024 ER_QUERY_TIMEOUT), which dbError makes
// a 504 (errs.QueryTimeout) that counts as the database's answer, not as
// its failure, for the breakers. A context without a deadline (the
// migrations at start, the reindex command, background jobs) leaves its
// statements unbounded; one with a deadline, whoever set it (a request's
// operation timeout, a job's lease), is abandoned by the driver there
// anyway, so the server stops with it.
//
// MariaDB bounds any statement: SET STATEMENT max_statement_time=s FOR …
// is prefixed to SELECT, INSERT, UPDATE, DELETE and REPLACE statements
// (and WITH … SELECT). MySQL bounds only SELECTs, with the optimizer hint
// MAX_EXECUTION_TIME(ms). Other statements (SET, DDL, the named locks,
// whose GET_LOCK has a wait of its own) run as they are; BEGIN and COMMIT
// are the driver's own commands and never pass here.

// boundMargin is how much before the context's deadline the server ends a
// statement, so that its answer arrives before the driver gives up on the
// connection: time for a busy server to notice the bound and for its
// answer to travel; at most a fifth of the time left.
const boundMargin = 250 * time.Millisecond

// serverBound is the time bound of a statement sent with left to the
// context's deadline: at least a millisecond, since 0 means no bound to
// both servers.
func serverBound(left time.Duration) time.Duration {
	return max(left-min(boundMargin, left/5), time.Millisecond)
}

// flavour is the kind of server a connector talks to.
type flavour int32

const (
	flavourUnknown flavour = iota
	flavourMariaDB
	flavourMySQL
)

// boundedStatement is query as sent for ctx to a server of flavour f:
// bounded by ctx's deadline if it has one, else query itself.
func boundedStatement(ctx context.Context, f flavour, query string) string {
	deadline, ok := ctx.Deadline()
	if !ok {
		return query
	}
	return boundQuery(f, query, serverBound(time.Until(deadline)))
}

// boundQuery is query bounded to run at most bound on a server of flavour
// f, or query itself if the server cannot bound it.
func boundQuery(f flavour, query string, bound time.Duration) string {
	verb, rest := firstWord(query)
	if verb == "" || namesLock(query) {
		return query
	}
	switch f {
	case flavourMariaDB:
		switch strings.ToUpper(verb) {
		case "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH":
			return "SET STATEMENT max_statement_time=" + seconds(bound) + " FOR " + query
		}
	case flavourMySQL:
		if strings.EqualFold(verb, "SELECT") {
			head := query[:len(query)-len(rest)]
			hint := "MAX_EXECUTION_TIME(" + strconv.FormatInt(bound.Milliseconds(), 10) + ")"
			// A query block takes one hint comment, right after SELECT.
			if trimmed := strings.TrimLeft(rest, " \t\r\n"); strings.HasPrefix(trimmed, "/*+") {
				return head + rest[:len(rest)-len(trimmed)] + "/*+ " + hint + " " + strings.TrimLeft(trimmed[len("/*+"):], " ")
			}
			return head + " /*+ " + hint + " */" + rest
		}
	}
	return query
}

// seconds is d in seconds to the millisecond, as max_statement_time takes it.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Milliseconds())/1000, 'f', 3, 64)
}

// firstWord is the first word of query after leading white space, and what
// follows it.
func firstWord(query string) (word, rest string) {
	s := strings.TrimLeft(query, " \t\r\n")
	end := strings.IndexFunc(s, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z')
	})
	if end < 0 {
		end = len(s)
	}
	return s[:end], s[end:]
}

// namesLock reports whether query takes or releases a named lock.
func namesLock(query string) bool {
	q := strings.ToUpper(query)
	return strings.Contains(q, "GET_LOCK(") || strings.Contains(q, "RELEASE_LOCK(")
}

// isQueryTimeout reports whether err is the server ending a statement at
// its time bound.
func isQueryTimeout(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1969 || me.Number == 3024)
}

// boundingConnector opens the driver's connections wrapped to bound their
// statements. The first connection asks the server what it is.
type boundingConnector struct {
	driver.Connector
	flavour atomic.Int32
}

func newBoundingConnector(c driver.Connector) *boundingConnector {
	return &boundingConnector{Connector: c}
}

// mysqlConn is what database/sql uses of the driver's connection.
type mysqlConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

func (c *boundingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	mc, ok := conn.(mysqlConn)
	if !ok {
		return conn, nil
	}
	f := flavour(c.flavour.Load())
	if f == flavourUnknown {
		if f, err = serverFlavour(ctx, mc); err != nil {
			return nil, errors.Join(err, conn.Close())
		}
		c.flavour.Store(int32(f))
	}
	return boundedConn{mysqlConn: mc, flavour: f}, nil
}

// serverFlavour asks the server on conn whether it is MariaDB or MySQL.
func serverFlavour(ctx context.Context, conn driver.QueryerContext) (flavour, error) {
	rows, err := conn.QueryContext(ctx, "SELECT VERSION()", nil)
	if err != nil {
		return flavourUnknown, err
	}
	row := make([]driver.Value, 1)
	err = rows.Next(row)
	if err := errors.Join(err, rows.Close()); err != nil {
		return flavourUnknown, err
	}
	var version string
	switch v := row[0].(type) {
	case []byte:
		version = string(v)
	case string:
		version = v
	}
	if strings.Contains(version, "MariaDB") {
		return flavourMariaDB, nil
	}
	return flavourMySQL, nil
}

// boundedConn sends its statements bounded by their context's deadline.
type boundedConn struct {
	mysqlConn
	flavour flavour
}

func (c boundedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.mysqlConn.ExecContext(ctx, boundedStatement(ctx, c.flavour, query), args)
}

func (c boundedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.mysqlConn.QueryContext(ctx, boundedStatement(ctx, c.flavour, query), args)
}

// PrepareContext prepares query as it is: a prepared statement outlives
// the context it is prepared for (database/sql prepares a statement once
// per connection, for whichever call first runs it there), so the bound
// is the executing call's (boundedStmt).
func (c boundedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	stmt, err := c.mysqlConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ms, ok := stmt.(mysqlStmt)
	if !ok {
		return stmt, nil
	}
	return boundedStmt{mysqlStmt: ms, conn: c, query: query}, nil
}

func (c boundedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// mysqlStmt is what database/sql uses of the driver's prepared statement.
type mysqlStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
	driver.NamedValueChecker
}

// boundedStmt is a prepared statement that a call with a deadline runs as
// a statement of its own, prepared bounded for the call and closed after
// it: the arguments still travel as they are (the reason to prepare), at
// the cost of a prepare's round trip. A call without a deadline runs the
// statement prepared once.
type boundedStmt struct {
	mysqlStmt
	conn  boundedConn
	query string
}

// bounded is the statement a call for ctx runs, and how to release it;
// the prepared statement itself when ctx sets no bound.
//
// The release's own error is dropped, never joined to the statement's: a
// close on a connection gone returns driver.ErrBadConn, which would tell
// database/sql that the statement was never sent, and it would run a
// write that was (the driver answers ErrInvalidConn then on purpose). The
// server frees a statement with its connection anyway.
func (s boundedStmt) bounded(ctx context.Context) (mysqlStmt, func(), error) {
	query := boundedStatement(ctx, s.conn.flavour, s.query)
	if query == s.query {
		return s.mysqlStmt, func() {}, nil
	}
	stmt, err := s.conn.mysqlConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	ms, ok := stmt.(mysqlStmt)
	if !ok {
		return nil, nil, errors.Join(errors.New("dao: the driver's prepared statement cannot run with a context"), stmt.Close())
	}
	return ms, func() { _ = stmt.Close() }, nil
}

func (s boundedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	stmt, release, err := s.bounded(ctx)
	if err != nil {
		return nil, err
	}
	res, err := stmt.ExecContext(ctx, args)
	release()
	return res, err
}

// QueryContext runs the query; a bounded statement of its own is closed
// with its rows.
func (s boundedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	stmt, release, err := s.bounded(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := stmt.QueryContext(ctx, args)
	if err != nil {
		release()
		return nil, err
	}
	if stmt == s.mysqlStmt {
		return rows, nil
	}
	if mr, ok := rows.(mysqlRows); ok {
		return closingRows{mysqlRows: mr, release: release}, nil
	}
	release()
	return nil, errors.Join(errors.New("dao: the driver's rows do not say their column types"), rows.Close())
}

// mysqlRows is what database/sql uses of the driver's rows: gorm reads
// the column types.
type mysqlRows interface {
	driver.Rows
	driver.RowsNextResultSet
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// closingRows closes a statement of its own once its rows are closed.
type closingRows struct {
	mysqlRows
	release func()
}

func (r closingRows) Close() error {
	err := r.mysqlRows.Close()
	r.release()
	return err
}
