// Package daotest gives a test a database of its own, opened as the service
// opens one and migrated to the latest schema: an embedded SQLite file, or a
// scratch database on the test MariaDB (scripts/testenv.sh). It is imported
// only by tests.
package daotest

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
)

// Option changes how a database is prepared.
type Option struct{ unmigrated bool }

// Unmigrated leaves the schema alone, for a test that migrates by itself.
var Unmigrated = Option{unmigrated: true}

// Open opens a fresh embedded SQLite database in t.TempDir().
func Open(t testing.TB, opts ...Option) *gorm.DB {
	t.Helper()
	return Connect(t, "sqlite", filepath.Join(t.TempDir(), "mgv.db"), opts...)
}

// OpenMariaDB opens a fresh database on the test MariaDB, dropped after the
// test. The test is skipped when MGV_TEST_MYSQL_ADMIN_DSN is not set.
func OpenMariaDB(t testing.TB, opts ...Option) *gorm.DB {
	t.Helper()
	admin := os.Getenv("MGV_TEST_MYSQL_ADMIN_DSN")
	if admin == "" {
		t.Skip(`MGV_TEST_MYSQL_ADMIN_DSN not set: eval "$(scripts/testenv.sh env)"`)
	}
	return Connect(t, "mysql", ScratchMariaDB(t, admin), opts...)
}

// Each runs test on a fresh SQLite and a fresh MariaDB database, as the
// subtests sqlite and mariadb.
func Each(t *testing.T, test func(t *testing.T, db *gorm.DB), opts ...Option) {
	t.Run("sqlite", func(t *testing.T) { test(t, Open(t, opts...)) })
	t.Run("mariadb", func(t *testing.T) { test(t, OpenMariaDB(t, opts...)) })
}

// Connect opens the database at dsn, which may already be in use (by a
// service under test), closes it after the test and migrates it.
func Connect(t testing.TB, driver, dsn string, opts ...Option) *gorm.DB {
	t.Helper()
	db, err := dao.OpenDB(config.Database{Driver: driver, DSN: dsn,
		MaxOpenConns: 4, MaxIdleConns: 2, ConnMaxLifetime: config.Duration{Duration: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			if err := sqlDB.Close(); err != nil {
				t.Errorf("close the test database: %v", err)
			}
		}
	})
	for _, o := range opts {
		if o.unmigrated {
			return db
		}
	}
	if _, err := dao.NewMigrator(db).Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// ScratchMariaDB creates an empty database with the account of the admin
// DSN, drops it after the test and returns its DSN.
func ScratchMariaDB(t testing.TB, admin string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(admin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("mgvcore_test_%08x", rand.Uint32())
	exec := func(query string) error {
		db, err := sql.Open("mysql", admin)
		if err != nil {
			return err
		}
		_, err = db.Exec(query)
		return errors.Join(err, db.Close())
	}
	if err := exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() { _ = exec("DROP DATABASE IF EXISTS " + name) })
	cfg.DBName = name
	return cfg.FormatDSN()
}

// ScratchMariaDBConfig is the configuration of a fresh database on the
// test MariaDB, dropped after the test, for a test that changes how it
// connects. The test is skipped when MGV_TEST_MYSQL_ADMIN_DSN is not set.
func ScratchMariaDBConfig(t testing.TB) *mysql.Config {
	t.Helper()
	admin := os.Getenv("MGV_TEST_MYSQL_ADMIN_DSN")
	if admin == "" {
		t.Skip(`MGV_TEST_MYSQL_ADMIN_DSN not set: eval "$(scripts/testenv.sh env)"`)
	}
	cfg, err := mysql.ParseDSN(ScratchMariaDB(t, admin))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// SQLiteHolding names the files of the SQLite store at file (the database,
// its -wal and -shm) that hold word as bytes.
func SQLiteHolding(t testing.TB, file, word string) []string {
	t.Helper()
	var found []string
	for _, f := range []string{file, file + "-wal", file + "-shm"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(word)) {
			found = append(found, filepath.Base(f))
		}
	}
	return found
}
