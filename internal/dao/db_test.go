package dao

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/config"
)

func TestMySQLDSNInterpolatesUnlessToldAndCountsMatchedRows(t *testing.T) {
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mysqlDSN(tc.in)
			if on := strings.Contains(got, "interpolateParams=true"); on != tc.want {
				t.Errorf("mysqlDSN(%q) = %q: interpolation %v, want %v", tc.in, got, on, tc.want)
			}
			if (got == tc.in) != tc.same {
				t.Errorf("mysqlDSN(%q) = %q: unchanged %v, want %v", tc.in, got, got == tc.in, tc.same)
			}
			if !tc.same && (!strings.Contains(got, "clientFoundRows=true") || strings.Contains(tc.in, "parseTime") && !strings.Contains(got, "parseTime=true")) {
				t.Errorf("mysqlDSN(%q) = %q: want clientFoundRows=true and every parameter kept", tc.in, got)
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
