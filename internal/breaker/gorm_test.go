package breaker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/megaview/mgvcore/internal/errs"
)

type probeRow struct {
	ID   int64  `gorm:"primaryKey"`
	Name string `gorm:"size:64;uniqueIndex"`
}

func openGorm(t *testing.T, d gorm.Dialector, b *Breaker) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard, TranslateError: true, DisableAutomaticPing: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Use(GormPlugin(b)); err != nil {
		t.Fatal(err)
	}
	return db
}

func openSQLite(t *testing.T, b *Breaker) *gorm.DB {
	return openGorm(t, sqlite.Open(filepath.Join(t.TempDir(), "probe.db")), b)
}

func openMySQL(t *testing.T, dsn string, b *Breaker) *gorm.DB {
	return openGorm(t, mysql.New(mysql.Config{DSN: dsn, SkipInitializeWithVersion: true}), b)
}

// mysqlDSN is the test MariaDB of scripts/testenv.sh, or skips the test.
func mysqlDSN(t *testing.T) string {
	dsn := os.Getenv("MGV_TEST_MYSQL_DSN")
	if dsn == "" {
		t.Skip(`MGV_TEST_MYSQL_DSN not set: eval "$(scripts/testenv.sh env)"`)
	}
	return dsn
}

// migrate makes a table of its own, so concurrent tests on the shared
// database do not meet, and returns a handle safe to reuse for it.
func migrate(t *testing.T, db *gorm.DB) *gorm.DB {
	t.Helper()
	table := fmt.Sprintf("breaker_probe_%d", time.Now().UnixNano())
	if err := db.Table(table).AutoMigrate(&probeRow{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Migrator().DropTable(table) })
	if err := db.Table(table).Create(&probeRow{ID: 1, Name: "first"}).Error; err != nil {
		t.Fatal(err)
	}
	return db.Table(table).Session(&gorm.Session{})
}

// answer is a statement the database answers with an error of the caller's
// making; none of them may open the breaker.
type answer struct {
	name string
	run  func(tbl *gorm.DB) error
	want error
}

var answers = []answer{
	{"not found", func(tbl *gorm.DB) error { var r probeRow; return tbl.First(&r, "id = ?", 4242).Error }, gorm.ErrRecordNotFound},
	{"duplicate key", func(tbl *gorm.DB) error { return tbl.Create(&probeRow{ID: 1, Name: "first"}).Error }, gorm.ErrDuplicatedKey},
	{"missing where", func(tbl *gorm.DB) error { return tbl.Where("").Delete(&probeRow{}).Error }, gorm.ErrMissingWhereClause},
	{"canceled", func(tbl *gorm.DB) error {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var rs []probeRow
		return tbl.WithContext(ctx).Find(&rs).Error
	}, context.Canceled},
}

func checkAnswers(t *testing.T, f fixture, open func(b *Breaker) *gorm.DB, extra ...answer) {
	for _, a := range append(answers, extra...) {
		t.Run(a.name, func(t *testing.T) {
			b := f.reg.Get("mysql-" + a.name)
			tbl := migrate(t, open(b))
			for range 20 {
				if err := a.run(tbl); !errors.Is(err, a.want) {
					t.Fatalf("err %v, want %v", err, a.want)
				}
			}
			if b.State() != Closed {
				t.Fatalf("20 × %s opened the breaker", a.name)
			}
		})
	}
}

// checkOpens fails statements on bad until b opens, checks that the next one
// is refused at once before reaching the database, then shows a probe on
// good closing it again.
func checkOpens(t *testing.T, b *Breaker, bad func() error, good *gorm.DB) {
	t.Helper()
	for i := 0; b.State() != Open; i++ {
		if i == 10 {
			t.Fatalf("still %s after 10 failures", b.State())
		}
		err := bad()
		if err == nil || errors.Is(err, errs.Unavailable(b.Name())) {
			t.Fatalf("failure %d: %v", i, err)
		}
		if c := ClassifyDB(context.Background(), err); c != Failure {
			t.Fatalf("%v classified %s, want failure", err, c)
		}
	}
	start := time.Now()
	err := bad()
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("refusal took %s", took)
	}
	// Exactly the refusal, nothing joined: the statement never ran.
	if want := errs.Unavailable(b.Name()).Error(); err == nil || err.Error() != want {
		t.Fatalf("open breaker answered %v, want %q", err, want)
	}
	if e := errs.From(err); e.Status != 503 || e.Reason != errs.ReasonDependencyUnavailable {
		t.Fatalf("refusal maps to %d %s", e.Status, e.Reason)
	}

	time.Sleep(60 * time.Millisecond)
	var n int64
	if err := good.Count(&n).Error; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != Closed {
		t.Fatalf("state %s after a good probe", b.State())
	}
}

func TestGormPluginSQLite(t *testing.T) {
	f := newFixture(t, testConfig())
	t.Run("answers never open it", func(t *testing.T) {
		checkAnswers(t, f, func(b *Breaker) *gorm.DB { return openSQLite(t, b) })
	})
	t.Run("a dead database opens it", func(t *testing.T) {
		b := f.reg.Get(MySQL)
		dead := migrate(t, openSQLite(t, b))
		sqlDB, _ := dead.DB()
		_ = sqlDB.Close()
		checkOpens(t, b, func() error { var r probeRow; return dead.First(&r).Error }, migrate(t, openSQLite(t, b)))
	})
	t.Run("timeouts open it", func(t *testing.T) {
		b := f.reg.Get("mysql-timeouts")
		tbl := migrate(t, openSQLite(t, b))
		checkOpens(t, b, func() error {
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			var r probeRow
			return tbl.WithContext(ctx).First(&r).Error
		}, tbl)
	})
}

// Against the real MariaDB of scripts/testenv.sh.
func TestGormPluginMySQL(t *testing.T) {
	dsn := mysqlDSN(t)
	f := newFixture(t, testConfig())
	t.Run("answers never open it", func(t *testing.T) {
		checkAnswers(t, f, func(b *Breaker) *gorm.DB { return openMySQL(t, dsn, b) },
			answer{"syntax error", func(tbl *gorm.DB) error { return tbl.Exec("SELEC 1").Error }, &mysqldriver.MySQLError{Number: 1064}},
			// The server ending a heavy call's statement at the bound its
			// deadline set.
			answer{"statement timeout", func(tbl *gorm.DB) error {
				return tbl.WithContext(WithHeavy(context.Background())).Exec("SET STATEMENT max_statement_time=0.01 FOR SELECT SLEEP(1)").Error
			}, &mysqldriver.MySQLError{Number: 1969}},
		)
	})
	// The server ending other calls' statements at their bound: it is
	// too slow for everyone.
	t.Run("statement timeouts of calls not heavy open it", func(t *testing.T) {
		b := f.reg.Get("mysql-bounds")
		db := openMySQL(t, dsn, b)
		checkOpens(t, b, func() error {
			return db.Exec("SET STATEMENT max_statement_time=0.01 FOR SELECT SLEEP(1)").Error
		}, migrate(t, db))
	})
	t.Run("connection refused opens it", func(t *testing.T) {
		b := f.reg.Get(MySQL)
		unreachable := openMySQL(t, "mgv:mgv@tcp(127.0.0.1:1)/mgvcore_test?timeout=1s", b)
		good := migrate(t, openMySQL(t, dsn, b))
		checkOpens(t, b, func() error { var r probeRow; return unreachable.Table("breaker_probe").First(&r).Error }, good)
	})
	// A server that has not answered by the context's deadline.
	t.Run("statement timeouts open it", func(t *testing.T) {
		b := f.reg.Get("mysql-timeouts")
		db := openMySQL(t, dsn, b)
		checkOpens(t, b, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			return db.WithContext(ctx).Exec("SELECT SLEEP(0.3)").Error
		}, migrate(t, db))
	})
}
