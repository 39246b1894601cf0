package dao

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// A transaction that reads and then writes, as most of logic's do, must
// wait for concurrent writers on the embedded store rather than fail. A
// deferred SQLite transaction reads a snapshot without a lock; its first
// write then finds the snapshot stale and fails with SQLITE_BUSY at once,
// which busy_timeout does not wait out. The increments also show that no
// transaction wrote over another's.
func TestSQLiteReadThenWriteTransactionsWaitForConcurrentWriters(t *testing.T) {
	db := openSQLite(t, filepath.Join(t.TempDir(), "mgvcore.db"), 8,
		"CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)", "INSERT INTO counter (id, n) VALUES (1, 0)")
	tr := NewTransactor(db)
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errc := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				errc <- tr.InTx(t.Context(), func(ctx context.Context) error {
					var n int
					if err := conn(ctx, db).Raw("SELECT n FROM counter WHERE id = 1").Scan(&n).Error; err != nil {
						return err
					}
					return conn(ctx, db).Exec("UPDATE counter SET n = ? WHERE id = 1", n+1).Error
				})
			}
		})
	}
	wg.Wait()
	close(errc)
	failed := 0
	for err := range errc {
		if err != nil {
			if failed == 0 {
				t.Errorf("a read-then-write transaction failed: %v", err)
			}
			failed++
		}
	}
	var n int
	if err := db.Raw("SELECT n FROM counter WHERE id = 1").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if failed > 0 || n != workers*each {
		t.Fatalf("%d of %d transactions failed; the counter reads %d, want %d", failed, workers*each, n, workers*each)
	}
}
