package dao

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/config"
)

func TestMySQLDSNInterpolatesUnlessToldCountsMatchedRowsAndParsesTimes(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     bool // interpolateParams=true in the result
		same     bool // returned unchanged
	}{
		{"plain", "mgv:mgv@tcp(127.0.0.1:3306)/mgv?charset=utf8mb4&parseTime=true&loc=UTC", true, false},
		{"explicitly off", "mgv:mgv@tcp(127.0.0.1:3306)/mgv?interpolateParams=false", false, false},
		{"explicitly on", "mgv:mgv@tcp(127.0.0.1:3306)/mgv?interpolateParams=true", true, false},
		{"unsafe collation", "mgv:mgv@tcp(127.0.0.1:3306)/mgv?collation=gbk_chinese_ci", false, false},
		{"does not parse", "mgv:mgv@tcp(127.0.0.1:3306", false, true},
		{"no parseTime", "mgv:mgv@tcp(127.0.0.1:3306)/mgv?charset=utf8mb4", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mysqlDSN(tc.in)
			if on := strings.Contains(got, "interpolateParams=true"); on != tc.want {
				t.Errorf("mysqlDSN(%q) = %q: interpolation %v, want %v", tc.in, got, on, tc.want)
			}
			if (got == tc.in) != tc.same {
				t.Errorf("mysqlDSN(%q) = %q: unchanged %v, want %v", tc.in, got, got == tc.in, tc.same)
			}
			if !tc.same && (!strings.Contains(got, "clientFoundRows=true") || !strings.Contains(got, "parseTime=true")) {
				t.Errorf("mysqlDSN(%q) = %q: want clientFoundRows=true, parseTime=true and every parameter kept", tc.in, got)
			}
		})
	}
}

// On SQLite a deleted row's bytes leave the database file: without
// secure_delete SQLite only unlinks the cell, and a deleted conversation's
// words stay in the file until the page is reused.
func TestSQLiteDeletesLeaveNoBytes(t *testing.T) {
	const word = "zebrafishquux 13912345678"
	file := filepath.Join(t.TempDir(), "mgvcore.db")
	db := openSQLite(t, file, 2,
		"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
		"INSERT INTO notes (body) VALUES ('before'), ('"+word+"'), ('after')",
		"PRAGMA wal_checkpoint(TRUNCATE)")
	holds := func() bool {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(b, []byte(word))
	}
	if !holds() {
		t.Fatal("the file never held the row: this test proves nothing")
	}
	for _, q := range []string{"DELETE FROM notes WHERE body = '" + word + "'", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if holds() {
		t.Fatal("the deleted row's bytes are still in the database file")
	}
}

// openSQLite opens file as the embedded store is opened, with conns
// connections, closes it after the test, and runs setup on it.
func openSQLite(t *testing.T, file string, conns int, setup ...string) *gorm.DB {
	t.Helper()
	db, err := OpenDB(config.Database{Driver: "sqlite", DSN: file, MaxOpenConns: conns, MaxIdleConns: conns})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sqlDB.Close() })
	for _, q := range setup {
		if err := db.Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db
}

// ReleaseIdleConns closes an SQLite file's idle connections, and the pool
// still serves and keeps idle connections afterwards; a database only in
// memory keeps its connections, since closing the last one would drop it.
func TestReleaseIdleConns(t *testing.T) {
	idle := func(t *testing.T, db *gorm.DB) (idle int, closed int64) {
		t.Helper()
		sqlDB, err := db.DB()
		if err != nil {
			t.Fatal(err)
		}
		s := sqlDB.Stats()
		return s.Idle, s.MaxIdleClosed
	}
	// busy takes n connections at once and gives them back idle.
	busy := func(t *testing.T, db *gorm.DB, n int) {
		t.Helper()
		sqlDB, err := db.DB()
		if err != nil {
			t.Fatal(err)
		}
		var conns []*sql.Conn
		for range n {
			c, err := sqlDB.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("file", func(t *testing.T) {
		cfg := config.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "mgvcore.db"), MaxOpenConns: 4, MaxIdleConns: 4}
		db := openSQLite(t, cfg.DSN, 4, "CREATE TABLE notes (id INTEGER PRIMARY KEY)")
		busy(t, db, 3)
		if n, _ := idle(t, db); n != 3 {
			t.Fatalf("%d idle connections before, want 3", n)
		}
		if err := ReleaseIdleConns(db, cfg); err != nil {
			t.Fatal(err)
		}
		if n, closed := idle(t, db); n != 0 || closed != 3 {
			t.Fatalf("after: %d idle, %d closed; want 0 and 3", n, closed)
		}
		if err := db.Exec("INSERT INTO notes (id) VALUES (1)").Error; err != nil {
			t.Fatal(err)
		}
		busy(t, db, 3)
		if n, _ := idle(t, db); n != 3 {
			t.Fatalf("the pool keeps %d idle connections afterwards, want 3", n)
		}
	})
	t.Run("memory", func(t *testing.T) {
		cfg := config.Database{Driver: "sqlite", DSN: "file:release?mode=memory&cache=shared", MaxOpenConns: 2, MaxIdleConns: 2}
		db := openSQLite(t, cfg.DSN, 2, "CREATE TABLE notes (id INTEGER PRIMARY KEY)")
		if err := ReleaseIdleConns(db, cfg); err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("INSERT INTO notes (id) VALUES (1)").Error; err != nil {
			t.Fatalf("the database in memory was dropped: %v", err)
		}
	})
}
