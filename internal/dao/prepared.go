package dao

import (
	"context"
	"database/sql"
	"sync"

	"gorm.io/gorm"
)

// preparedStatement runs one statement as a server-side prepared statement
// on MySQL. Statements run with parameters interpolated into the text
// (interpolateParams): one round trip instead of three, right for nearly
// every query. A statement that carries tens of kilobytes, such as a
// transcript part, is the exception: interpolated, the driver escapes it
// byte by byte and the server parses the literal again; prepared, it
// travels as it is. database/sql prepares it once per connection.
type preparedStatement struct {
	db    *gorm.DB
	query string

	mu   sync.Mutex
	stmt *sql.Stmt // nil until prepared
}

func newPreparedStatement(db *gorm.DB, query string) *preparedStatement {
	return &preparedStatement{db: db, query: query}
}

// on returns db (a transaction or not) set to run the statement prepared:
// db.Exec(query, args...) then goes through gorm's callbacks (tracing, the
// breaker) as ever, but executes the prepared statement on db's
// connection. Other statements, other dialects, or a statement that cannot
// be prepared run as usual.
func (p *preparedStatement) on(ctx context.Context, db *gorm.DB) *gorm.DB {
	if db.Name() != "mysql" {
		return db
	}
	stmt := p.prepared(ctx)
	if stmt == nil {
		return db
	}
	out := db.Session(&gorm.Session{Context: ctx}) // a Statement of its own
	switch pool := out.Statement.ConnPool.(type) {
	case *sql.Tx:
		out.Statement.ConnPool = preparedPool{ConnPool: pool, query: p.query, stmt: pool.StmtContext(ctx, stmt)}
	case *sql.DB:
		out.Statement.ConnPool = preparedPool{ConnPool: pool, query: p.query, stmt: stmt}
	default:
		return db
	}
	return out
}

// prepared prepares the statement on the pool the first time it can; nil
// while it cannot (the statement then runs as usual, and fails as usual
// if the database is down).
func (p *preparedStatement) prepared(ctx context.Context) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt == nil {
		if sqlDB, err := p.db.DB(); err == nil {
			p.stmt, _ = sqlDB.PrepareContext(ctx, p.query)
		}
	}
	return p.stmt
}

// preparedPool executes its query with the prepared statement; everything
// else goes to the pool or transaction it wraps.
type preparedPool struct {
	gorm.ConnPool
	query string
	stmt  *sql.Stmt
}

func (p preparedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if query != p.query {
		return p.ConnPool.ExecContext(ctx, query, args...)
	}
	return p.stmt.ExecContext(ctx, args...)
}
