package dao

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strings"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/errs"
)

// txKey carries the open transaction in a context, so that logic can run
// several repository calls (its own and its hooks') in one transaction
// without seeing gorm.
type txKey struct{}

// Transactor runs functions in one database transaction.
type Transactor struct{ db *gorm.DB }

// NewTransactor runs transactions on db.
func NewTransactor(db *gorm.DB) *Transactor { return &Transactor{db: db} }

// InTx runs fn in a transaction: every dao call made with the context fn
// receives joins it. It commits when fn returns nil and rolls back
// otherwise. Inside a transaction already, fn joins the open one.
//
// A transaction that MySQL aborts as a deadlock victim is run again, up to
// txAttempts times in all: the other transaction has gone ahead by then. fn
// must therefore leave nothing behind outside the database that a second
// run would trip over.
func (t *Transactor) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if t.InTransaction(ctx) {
		return fn(ctx)
	}
	var after *afterCommit
	err := retryDeadlocks(ctx, func() error {
		return t.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var txCtx context.Context
			txCtx, after = withTx(ctx, tx)
			return fn(txCtx)
		})
	})
	if err == nil {
		after.run()
	}
	return dbError(err, nil)
}

// retryDeadlocks runs run, and again while MySQL aborts it as a deadlock
// victim, up to txAttempts times in all; it returns the last run's error.
func retryDeadlocks(ctx context.Context, run func() error) error {
	for attempt := 1; ; attempt++ {
		err := run()
		if attempt < txAttempts && isDeadlock(err) && ctx.Err() == nil {
			continue
		}
		return err
	}
}

// AfterCommit runs fn once the transaction ctx carries has committed (not
// at all if it rolls back or is run again); outside a transaction, at once.
// fn must not block.
func (*Transactor) AfterCommit(ctx context.Context, fn func()) {
	if a, ok := ctx.Value(afterKey{}).(*afterCommit); ok {
		a.fns = append(a.fns, fn)
		return
	}
	fn()
}

// afterKey carries the functions to run after the transaction commits.
type afterKey struct{}

type afterCommit struct{ fns []func() }

func (a *afterCommit) run() {
	for _, fn := range a.fns {
		fn()
	}
}

// withTx is ctx carrying tx, with a fresh list of functions to run once tx
// commits; the caller runs them.
func withTx(ctx context.Context, tx *gorm.DB) (context.Context, *afterCommit) {
	a := &afterCommit{}
	return context.WithValue(context.WithValue(ctx, txKey{}, tx), afterKey{}, a), a
}

// InTransaction reports whether ctx carries an open transaction (InTx).
func (*Transactor) InTransaction(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*gorm.DB)
	return ok
}

// txAttempts bounds the runs of one transaction that keeps deadlocking.
const txAttempts = 3

// isDeadlock reports whether MySQL rolled the transaction back to break a
// deadlock (ER_LOCK_DEADLOCK); SQLite serializes writers and has none.
func isDeadlock(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1213
}

// inTx runs fn in the transaction ctx carries, or else in a transaction of
// its own on db; bound to ctx either way.
func inTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(tx.WithContext(ctx))
	}
	return db.WithContext(ctx).Transaction(fn)
}

// inTxRetrying is inTx, but a transaction of its own that MySQL aborts as
// a deadlock victim is run again, as Transactor.InTx runs one, up to
// txAttempts times in all; in the caller's transaction, the caller's
// InTx does. fn must set everything it reports afresh on every run.
func inTxRetrying(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return inTx(ctx, db, fn)
	}
	return retryDeadlocks(ctx, func() error { return db.WithContext(ctx).Transaction(fn) })
}

// snapshot runs fn in a read-only transaction on db whose reads see one
// consistent snapshot: REPEATABLE READ on MySQL (InnoDB's consistent read,
// taken at the first read, whatever the server's default level), and on
// SQLite a read transaction, which keeps its snapshot of the WAL until it
// ends (it begins deferred, holding no lock that writers wait for). fn's
// own error is returned as it is, not as the database's.
func snapshot(ctx context.Context, db *gorm.DB, fn func(ctx context.Context) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.Name() == "mysql" {
		opts.Isolation = sql.LevelRepeatableRead
	}
	var fnErr error
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		txCtx, _ := withTx(ctx, tx)
		fnErr = fn(txCtx)
		return fnErr
	}, opts)
	if fnErr != nil {
		return fnErr
	}
	return dbError(err, nil)
}

// conn is the transaction ctx carries, or db; bound to ctx either way.
func conn(ctx context.Context, db *gorm.DB) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx.WithContext(ctx)
	}
	return db.WithContext(ctx)
}

// dbError maps a gorm error to the service error type: "no row" to
// notFound (an internal error when the caller expects a row to exist), a
// duplicate key to ALREADY_EXISTS, a statement the server ended at the
// bound its context's deadline set (boundedStatement) to a 504 that says
// the query needs more time than the operation has, a database that cannot
// serve to DEPENDENCY_UNAVAILABLE. Service errors (an open breaker) and
// context errors pass through; anything else is internal.
func dbError(err error, notFound *errs.Error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound):
		if notFound != nil {
			return notFound
		}
		return errs.Internal(err)
	case isQueryTimeout(err):
		return errs.QueryTimeout(err)
	case isDeadlock(err):
		return errs.New(http.StatusConflict, errs.ReasonConflict, "a concurrent change got in the way; try again").WithCause(err)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return errs.New(http.StatusConflict, errs.ReasonAlreadyExists, "a row with this key exists already").WithCause(err)
	case breaker.ClassifyDB(context.Background(), err) == breaker.Failure:
		return errs.Unavailable("database").WithCause(err)
	}
	return errs.Internal(err)
}

// duplicateKey names the unique key err violated, as the database does: a
// MariaDB key name ("Duplicate entry 'x' for key 'uniq_users_email'") or
// SQLite's columns ("UNIQUE constraint failed: users.tenant_id,
// users.origin_user_id"); "" when err is no duplicate or does not say.
func duplicateKey(err error) string {
	if !errors.Is(err, gorm.ErrDuplicatedKey) {
		return ""
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		_, key, ok := strings.Cut(me.Message, " for key '")
		if !ok {
			return ""
		}
		key = strings.TrimSuffix(key, "'")
		// MySQL 8 prefixes the table.
		if _, k, ok := strings.Cut(key, "."); ok {
			key = k
		}
		return key
	}
	msg := err.Error()
	var kept keptCause
	if errors.As(err, &kept) {
		msg = kept.cause.Error()
	}
	i := strings.Index(msg, "UNIQUE constraint failed: ")
	if i < 0 {
		return ""
	}
	cols := msg[i+len("UNIQUE constraint failed: "):]
	if j := strings.Index(cols, " ("); j >= 0 {
		cols = cols[:j]
	}
	return cols
}

// isDuplicate reports whether err is dbError's mapping of a duplicate key.
func isDuplicate(err error) bool {
	var e *errs.Error
	return errors.As(err, &e) && e.Reason == errs.ReasonAlreadyExists
}
