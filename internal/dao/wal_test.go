package dao_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
)

// openWALTest opens a fresh SQLite store as the service does (WAL,
// secure_delete), with a row of distinctive words written and deleted.
func openWALTest(t testing.TB, words string) (*gorm.DB, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "mgvcore.db")
	db, err := dao.OpenDB(config.Database{Driver: "sqlite", DSN: file, MaxOpenConns: 4, MaxIdleConns: 2,
		ConnMaxLifetime: config.Duration{Duration: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	for _, q := range []string{"CREATE TABLE said (id INTEGER PRIMARY KEY, name TEXT, words TEXT)",
		"INSERT INTO said (name, words) VALUES ('" + words + "', 'we plan " + words + " next year')",
		"DELETE FROM said"} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	return db, file
}

// A deleted row's words stay in the WAL (secure_delete clears only the
// database file) until Truncate, after which no file of the store holds
// them.
func TestWALTruncateLeavesNoDeletedWordsInTheFiles(t *testing.T) {
	const words = "客户Walsh哈secretproject"
	db, file := openWALTest(t, words)
	if found := daotest.SQLiteHolding(t, file, words); len(found) == 0 {
		t.Fatal("no file holds the deleted words before the truncation: the check below would prove nothing")
	}
	if err := db.Exec("PRAGMA wal_checkpoint(PASSIVE)").Error; err != nil {
		t.Fatal(err)
	}
	if found := daotest.SQLiteHolding(t, file, words); len(found) != 1 || found[0] != "mgvcore.db-wal" {
		t.Fatalf("after a plain checkpoint the words are in %v; expected in the WAL only", found)
	}
	if err := dao.NewWAL(db, zerolog.Nop()).Truncate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if found := daotest.SQLiteHolding(t, file, words); len(found) != 0 {
		t.Fatalf("after the truncation the store's files still hold the deleted words: %v", found)
	}
	// Writes go on after it.
	if err := db.Exec("INSERT INTO said (name, words) VALUES ('after', 'after')").Error; err != nil {
		t.Fatal(err)
	}
}

// A reader holding an old snapshot keeps the checkpoint from truncating:
// Truncate tries again a bounded number of times, fails naming the frames
// kept, and succeeds once the reader is gone.
func TestWALTruncateWaitsForReadersWithABound(t *testing.T) {
	const words = "readerheldsecret"
	db, file := openWALTest(t, "before")
	reader := db.Begin(&sql.TxOptions{ReadOnly: true})
	var n int64
	if err := reader.Raw("SELECT count(*) FROM said").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"INSERT INTO said (name, words) VALUES ('" + words + "', '" + words + "')", "DELETE FROM said"} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	w := dao.NewTestWAL(db, 0, 0, 2, 50*time.Millisecond, 10*time.Millisecond, nil)
	if err := w.Truncate(t.Context()); err == nil {
		t.Fatal("the WAL was truncated while a reader held an old snapshot")
	}
	if err := reader.Rollback().Error; err != nil {
		t.Fatal(err)
	}
	if err := w.Truncate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if found := daotest.SQLiteHolding(t, file, words); len(found) != 0 {
		t.Fatalf("after the truncation the store's files still hold the deleted words: %v", found)
	}
}

// Ask truncates in the background, after the delay, and many asks share
// one truncation.
func TestWALAskTruncatesInTheBackground(t *testing.T) {
	const words = "backgroundsecret"
	db, file := openWALTest(t, words)
	done := make(chan error, 10)
	w := dao.NewTestWAL(db, 50*time.Millisecond, time.Hour, 5, time.Second, 10*time.Millisecond, func(err error) { done <- err })
	w.Start()
	defer w.Close()
	for range 5 {
		w.Ask()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no background truncation")
	}
	if found := daotest.SQLiteHolding(t, file, words); len(found) != 0 {
		t.Fatalf("after the background truncation the store's files still hold the deleted words: %v", found)
	}
	select {
	case err := <-done:
		t.Fatalf("five asks made more than one truncation (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
}

// A truncation that a reader holds up never completes while the reader
// keeps its snapshot, and writes go on meanwhile: it holds the write lock
// only for short tries (how long a write waits is measured by
// BenchmarkWritesDuringABlockedWALTruncation).
func TestWALTruncateBlockedByAReaderLetsWritesThrough(t *testing.T) {
	db, _ := openWALTest(t, "before")
	reader, stop := blockedTruncation(t, db)
	defer reader.Rollback()
	for range 20 {
		if err := db.Exec("INSERT INTO said (name, words) VALUES ('w', 'w')").Error; err != nil {
			t.Fatalf("a write during the truncation: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := stop(); err == nil {
		t.Error("the truncation completed while the reader held its snapshot")
	}
}

// blockedTruncation opens a reader's snapshot, writes after it, and starts
// a truncation that the reader holds up; stop cancels it and returns what
// it returned.
func blockedTruncation(tb testing.TB, db *gorm.DB) (reader *gorm.DB, stop func() error) {
	tb.Helper()
	reader = db.Begin(&sql.TxOptions{ReadOnly: true})
	var n int64
	if err := reader.Raw("SELECT count(*) FROM said").Scan(&n).Error; err != nil {
		tb.Fatal(err)
	}
	if err := db.Exec("INSERT INTO said (name, words) VALUES ('kept', 'kept')").Error; err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dao.NewWAL(db, zerolog.Nop()).Truncate(ctx) }()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		tb.Fatalf("the truncation ended while the reader held its snapshot: %v", err)
	default:
	}
	return reader, func() error { cancel(); return <-done }
}

// BenchmarkWritesDuringABlockedWALTruncation measures writes while a
// reader holds a truncation up: the slowest plain write (max-wait-ms) and
// the share of read-then-write transactions refused as busy (refused-%).
// This benchmark runs one writer. With two writers running without pause,
// a truncation that waited 1 s per try held a write 1.03 s and refused 78 %;
// with tries of 50 ms, 83 ms and 29 % (25 % with no truncation running).
func BenchmarkWritesDuringABlockedWALTruncation(b *testing.B) {
	db, _ := openWALTest(b, "before")
	reader, stop := blockedTruncation(b, db)
	defer reader.Rollback()
	defer func() { _ = stop() }()
	var slowest time.Duration
	var txs, busy int
	for b.Loop() {
		start := time.Now()
		if err := db.Exec("INSERT INTO said (name, words) VALUES ('w', 'w')").Error; err != nil {
			b.Fatalf("a write during the truncation: %v", err)
		}
		slowest = max(slowest, time.Since(start))
		err := db.Transaction(func(tx *gorm.DB) error {
			var m int64
			if err := tx.Raw("SELECT count(*) FROM said").Scan(&m).Error; err != nil {
				return err
			}
			return tx.Exec("INSERT INTO said (name, words) VALUES ('t', 't')").Error
		})
		txs++
		if err != nil {
			busy++
		}
	}
	b.ReportMetric(float64(slowest.Microseconds())/1000, "max-wait-ms")
	b.ReportMetric(100*float64(busy)/float64(txs), "refused-%")
}
