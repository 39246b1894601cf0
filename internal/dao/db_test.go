package dao

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	dir := t.TempDir()
	file := filepath.Join(dir, "mgvcore.db")
	db, err := OpenDB(config.Database{Driver: "sqlite", DSN: file, MaxOpenConns: 2, MaxIdleConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sqlDB.Close() }()
	const word = "zebrafishquux 13912345678"
	for _, q := range []string{
		"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
		"INSERT INTO notes (body) VALUES ('before'), ('" + word + "'), ('after')",
		"PRAGMA wal_checkpoint(TRUNCATE)",
	} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
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
