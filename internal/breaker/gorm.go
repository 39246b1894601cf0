package breaker

import (
	"context"
	"errors"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// GormPlugin guards every statement of a gorm DB with b: registered before
// all other callbacks, an open breaker aborts the statement with
// errs.Unavailable before it takes a connection; registered after all of
// them, it records how the statement ended (see ClassifyDB).
//
//	db.Use(breaker.GormPlugin(registry.Get(breaker.MySQL)))
func GormPlugin(b *Breaker) gorm.Plugin { return gormPlugin{b: b} }

type gormPlugin struct{ b *Breaker }

func (gormPlugin) Name() string { return "mgv:breaker" }

// ticketKey stores a statement's ticket in its Settings. The statement
// pointer is part of the key because gorm copies Settings into the
// statements of nested queries (preloads, associations).
type ticketKey struct{ stmt *gorm.Statement }

func (p gormPlugin) Initialize(db *gorm.DB) error {
	const before, after = "mgv:breaker_before", "mgv:breaker_after"
	cb := db.Callback()
	return errors.Join(
		cb.Create().Before("*").Register(before, p.before),
		cb.Create().After("*").Register(after, p.after),
		cb.Query().Before("*").Register(before, p.before),
		cb.Query().After("*").Register(after, p.after),
		cb.Update().Before("*").Register(before, p.before),
		cb.Update().After("*").Register(after, p.after),
		cb.Delete().Before("*").Register(before, p.before),
		cb.Delete().After("*").Register(after, p.after),
		cb.Row().Before("*").Register(before, p.before),
		cb.Row().After("*").Register(after, p.after),
		cb.Raw().Before("*").Register(before, p.before),
		cb.Raw().After("*").Register(after, p.after),
	)
}

func (p gormPlugin) before(db *gorm.DB) {
	if db.Error != nil || db.Statement == nil {
		return // gorm refused it already; nothing will reach the database
	}
	t, err := p.b.Allow()
	if err != nil {
		_ = db.AddError(err)
		return
	}
	db.Statement.Settings.Store(ticketKey{db.Statement}, t)
}

func (p gormPlugin) after(db *gorm.DB) {
	if db.Statement == nil {
		return
	}
	v, ok := db.Statement.Settings.LoadAndDelete(ticketKey{db.Statement})
	if !ok {
		return
	}
	ctx := db.Statement.Context
	if ctx == nil {
		ctx = context.Background()
	}
	v.(Ticket).Record(ClassifyDB(ctx, db.Error))
}

// ClassifyDB sorts a statement's error: the server answering with an error
// of its own (not found, duplicate key, a syntax error, a heavy call's
// statement ended at its time bound: see WithHeavy) is a Success; gorm refusing a statement before
// sending it is Ignore; server-side trouble (too many connections,
// shutdown, read-only, lock wait timeout) and everything Classify counts —
// timeouts (a server that did not answer by the context's deadline),
// connection refused or reset, bad connections — are Failures.
func ClassifyDB(ctx context.Context, err error) Outcome {
	if err == nil {
		return Success
	}
	for _, answered := range answeredErrors {
		if errors.Is(err, answered) {
			return Success
		}
	}
	for _, refused := range refusedErrors {
		if errors.Is(err, refused) {
			return Ignore
		}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch {
		case mysqlTrouble[me.Number]:
			return Failure
		case me.Number == 1969 || me.Number == 3024:
			return queryTimeout(ctx)
		}
		return Success
	}
	return Classify(ctx, err)
}

// answeredErrors are gorm's names for answers the server gave.
var answeredErrors = []error{
	gorm.ErrRecordNotFound,
	gorm.ErrDuplicatedKey,
	gorm.ErrForeignKeyViolated,
	gorm.ErrCheckConstraintViolated,
}

// refusedErrors are gorm's own refusals of a statement it never sent.
var refusedErrors = []error{
	gorm.ErrMissingWhereClause,
	gorm.ErrPrimaryKeyRequired,
	gorm.ErrModelValueRequired,
	gorm.ErrModelAccessibleFieldsRequired,
	gorm.ErrInvalidData,
	gorm.ErrInvalidField,
	gorm.ErrInvalidValue,
	gorm.ErrInvalidValueOfLength,
	gorm.ErrInvalidTransaction,
	gorm.ErrUnsupportedRelation,
	gorm.ErrSubQueryRequired,
	gorm.ErrEmptySlice,
	gorm.ErrPreloadNotAllowed,
	gorm.ErrNotImplemented,
	gorm.ErrDryRunModeUnsupported,
}

// mysqlTrouble are server error numbers that say the server cannot serve,
// rather than that the statement was wrong.
var mysqlTrouble = map[uint16]bool{
	1037: true, // ER_OUTOFMEMORY
	1040: true, // ER_CON_COUNT_ERROR: too many connections
	1041: true, // ER_OUT_OF_RESOURCES
	1045: true, // ER_ACCESS_DENIED_ERROR: the service's own credentials
	1053: true, // ER_SERVER_SHUTDOWN
	1152: true, // ER_ABORTING_CONNECTION
	1158: true, // ER_NET_READ_ERROR
	1159: true, // ER_NET_READ_INTERRUPTED
	1160: true, // ER_NET_ERROR_ON_WRITE
	1161: true, // ER_NET_WRITE_INTERRUPTED
	1205: true, // ER_LOCK_WAIT_TIMEOUT
	1290: true, // ER_OPTION_PREVENTS_STATEMENT: --read-only, e.g. during failover
	1836: true, // ER_READ_ONLY_MODE
	1927: true, // ER_CONNECTION_KILLED
	// Not 1969 ER_STATEMENT_TIMEOUT (MariaDB's max_statement_time) nor
	// 3024 ER_QUERY_TIMEOUT (MySQL's MAX_EXECUTION_TIME): the server
	// ending a statement at the bound its context's deadline set on it
	// (dao's boundedStatement) answered, in time; a failure only when the
	// call was not a heavy one (queryTimeout).
}
