package dao_test

import (
	"context"
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
func openWALTest(t *testing.T, words string) (*gorm.DB, string) {
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
	reader := db.Begin()
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

// While a reader keeps a truncation from completing, the truncation holds
// the write lock only briefly at each try: a write made meanwhile waits
// far less than a second, and a transaction that reads and then writes
// (SQLite answers it BUSY at once, without waiting, while the lock is
// held) mostly goes through.
func TestWALTruncateBlockedByAReaderHoldsWritersBriefly(t *testing.T) {
	db, _ := openWALTest(t, "before")
	reader := db.Begin()
	defer reader.Rollback()
	var n int64
	if err := reader.Raw("SELECT count(*) FROM said").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("INSERT INTO said (name, words) VALUES ('kept', 'kept')").Error; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- dao.NewWAL(db, zerolog.Nop()).Truncate(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err == nil {
			t.Error("the truncation completed while the reader held its snapshot")
		}
	}()
	time.Sleep(100 * time.Millisecond)
	var slowest time.Duration
	var txs, busy int
	for until := time.Now().Add(2 * time.Second); time.Now().Before(until); {
		start := time.Now()
		if err := db.Exec("INSERT INTO said (name, words) VALUES ('w', 'w')").Error; err != nil {
			t.Fatalf("a write during the truncation: %v", err)
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
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the truncation ended while the reader held its snapshot: %v", err)
	default:
	}
	if slowest > 400*time.Millisecond {
		t.Errorf("a write waited %v for the truncation", slowest)
	}
	if busy*2 > txs {
		t.Errorf("%d of %d transactions that read and then write were refused during the truncation", busy, txs)
	}
}
