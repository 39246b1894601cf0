// Package dao is the storage layer: gorm over MySQL (or the embedded SQLite
// store of the dev default) and the search engines. It maps driver errors
// to the service error type; nothing above it sees a driver error.
package dao

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/fsmode"
)

// OpenDB opens the configured SQL store without waiting for it to answer:
// the service starts and reports not-ready until the database is reachable.
func OpenDB(cfg config.Database) (*gorm.DB, error) {
	var dialector gorm.Dialector
	switch cfg.Driver {
	case "mysql":
		dsn := mysqlDSN(cfg.DSN)
		conf, err := mysqldriver.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("database.dsn: %w", err)
		}
		connector, err := mysqldriver.NewConnector(conf)
		if err != nil {
			return nil, fmt.Errorf("database.dsn: %w", err)
		}
		// Skipping the version query keeps Open from dialling, so a
		// database that is down at start only makes the service not ready.
		// Statements are bounded on the server by their context's
		// deadline (boundingConnector).
		d := mysql.New(mysql.Config{DSN: dsn, Conn: sql.OpenDB(newBoundingConnector(connector)), SkipInitializeWithVersion: true}).(*mysql.Dialector)
		dialector = keptMySQLError{*d}
	case "sqlite":
		dsn, err := sqliteDSN(cfg.DSN)
		if err != nil {
			return nil, err
		}
		dialector = keptSQLiteError{*sqlite.Open(dsn).(*sqlite.Dialector)}
	default:
		return nil, fmt.Errorf("database.driver: unknown driver %q", cfg.Driver)
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		DisableAutomaticPing: true,
		Logger:               logger.Discard,
		TranslateError:       true,
	})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	sqlDB.SetMaxOpenConns(cfg.MaxOpenConns)
	sqlDB.SetMaxIdleConns(cfg.MaxIdleConns)
	sqlDB.SetConnMaxLifetime(cfg.ConnMaxLifetime.Duration)
	return db, nil
}

// keptMySQLError and keptSQLiteError translate driver errors as their
// dialectors do (a duplicate key to gorm.ErrDuplicatedKey), keeping the
// driver's error under the translation (keptCause): it names the unique
// key that was violated (duplicateKey).
type keptMySQLError struct{ mysql.Dialector }

func (d keptMySQLError) Translate(err error) error {
	return keepCause(d.Dialector.Translate(err), err)
}

type keptSQLiteError struct{ sqlite.Dialector }

func (d keptSQLiteError) Translate(err error) error {
	return keepCause(d.Dialector.Translate(err), err)
}

func keepCause(translated, err error) error {
	if translated == err {
		return err
	}
	return keptCause{translated: translated, cause: err}
}

// keptCause is a translated driver error that reads as its translation:
// the driver's message, kept for errors.As and duplicateKey, quotes the
// row's values ("Duplicate entry 'a@b.test' for key …"), which must not
// reach what prints errors (the statement's span, logs).
type keptCause struct{ translated, cause error }

func (e keptCause) Error() string   { return e.translated.Error() }
func (e keptCause) Unwrap() []error { return []error{e.translated, e.cause} }

// mysqlDSN turns on client-side interpolation of query arguments unless the
// DSN says otherwise: without it every statement with arguments is a
// server-side prepare, execute and close, three round trips where one does.
// The driver refuses interpolation with the multi-byte collations whose
// escaping it cannot do safely; such a DSN keeps it off.
//
// It also has UPDATEs report the rows they matched, as SQLite does, rather
// than those they changed: a lease renewed within the millisecond it was
// taken changes nothing, and was taken for a lease lost. And it turns on
// parseTime when the DSN leaves it out: the time columns are read as times
// (the configuration refuses parseTime=false). A DSN that does not parse
// is left as it is (OpenDB refuses it).
func mysqlDSN(dsn string) string {
	c, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return dsn
	}
	c.ClientFoundRows = true
	if !strings.Contains(dsn, "parseTime=") {
		c.ParseTime = true
	}
	if !c.InterpolateParams && !strings.Contains(dsn, "interpolateParams=") {
		c.InterpolateParams = true
		if out := c.FormatDSN(); parses(out) {
			return out
		}
		c.InterpolateParams = false
	}
	if out := c.FormatDSN(); parses(out) {
		return out
	}
	return dsn
}

func parses(dsn string) bool {
	_, err := mysqldriver.ParseDSN(dsn)
	return err == nil
}

// sqliteDSN creates the data directory (0700) and the database file (0600;
// SQLite gives its -wal and -shm files the database file's mode), tightens
// an existing database found readable by others, and turns on WAL and a
// busy timeout, so an upgraded child and its draining parent can share the
// file. secure_delete has SQLite overwrite what a DELETE or UPDATE frees
// with zeros, so a deleted conversation's words leave the file (once the
// WAL is checkpointed) rather than wait for their page to be reused.
// Transactions begin IMMEDIATE, taking the write lock (waiting up to the
// busy timeout for it) before their first read: a deferred one that read
// and then wrote failed with SQLITE_BUSY at once whenever another writer
// had committed since its read, which the busy timeout does not wait out.
// Read-only transactions (sql.TxOptions.ReadOnly) still begin deferred.
func sqliteDSN(path string) (string, error) {
	file := sqlitePath(path)
	if dir := filepath.Dir(file); dir != "." {
		if err := fsmode.MkdirAll(dir); err != nil {
			return "", fmt.Errorf("database.dsn: cannot create directory %s: %w", dir, err)
		}
	}
	if file != "" && !inMemory(path) {
		if err := fsmode.CreateFile(file); err != nil {
			return "", fmt.Errorf("database.dsn: cannot create %s: %w", file, err)
		}
		for _, f := range []string{file, file + "-wal", file + "-shm"} {
			if old, _, err := fsmode.Tighten(f); err != nil {
				return "", fmt.Errorf("database.dsn: %s has mode %04o, readable by other users, and cannot be made 0600: %w", f, old, err)
			}
		}
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_txlock=immediate&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=secure_delete(1)", nil
}

// SQLiteFile is the file an SQLite DSN names, or "" for a database that
// lives in memory.
func SQLiteFile(dsn string) string {
	if inMemory(dsn) {
		return ""
	}
	return sqlitePath(dsn)
}

// sqlitePath is the path of an SQLite DSN, without its "file:" scheme and
// query.
func sqlitePath(dsn string) string {
	file := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(file, '?'); i >= 0 {
		file = file[:i]
	}
	return file
}

// inMemory reports whether the SQLite DSN path names a database that lives
// only in memory, gone when its last connection closes.
func inMemory(path string) bool {
	return strings.Contains(path, ":memory:") || strings.Contains(path, "mode=memory")
}

// ReleaseIdleConns closes the idle connections of an SQLite file's pool;
// new ones open as queries need them, and the pool keeps up to maxIdle
// again. Each SQLite connection holds, in this process, its page cache and
// the schema it last parsed: after the migrations of a fresh database,
// whose DDL every connection re-read step by step, that is about 1.5 MB
// the idle pool would otherwise keep for the life of the process. MySQL's
// connections hold their memory in the server, and a database only in
// memory would be dropped with its last connection; both are left alone.
func ReleaseIdleConns(db *gorm.DB, cfg config.Database) error {
	if cfg.Driver != "sqlite" || inMemory(cfg.DSN) {
		return nil
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	sqlDB.SetMaxIdleConns(0)
	sqlDB.SetMaxIdleConns(cfg.MaxIdleConns)
	return nil
}

// PingDB reports whether the database answers a query. It goes through gorm
// rather than database/sql's Ping so that, like any query, it shows in the
// trace of the readiness call.
func PingDB(db *gorm.DB) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		return db.WithContext(ctx).Exec("SELECT 1").Error
	}
}

// exactly is the condition that column col compares with value, through op
// ("=" or "IN"), byte for byte. MySQL's collations take other cases and
// accents, and trailing spaces, for equal: a sign-in as "lí.na@démo.mgv"
// found li.na@demo.mgv. The collated comparison keeps col's index in use;
// on MySQL the binary one decides.
func exactly(db *gorm.DB, col, op string, value any) (string, []any) {
	cond := col + " " + op + " ?"
	if db.Name() == "mysql" {
		return cond + " AND CAST(" + col + " AS BINARY) " + op + " ?", []any{value, value}
	}
	return cond, []any{value}
}
