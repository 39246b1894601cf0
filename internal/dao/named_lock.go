package dao

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"errors"

	"gorm.io/gorm"
)

// ReindexLockName is the named lock a rebuild of the index alias holds.
// MySQL's lock names are the server's, not a database's, and the alias is
// what two rebuilds would fight over.
func ReindexLockName(alias string) string {
	name := "mgvcore_reindex " + alias
	if len(name) > 64 { // MySQL's limit
		sum := sha256.Sum256([]byte(alias))
		name = "mgvcore_reindex " + hex.EncodeToString(sum[:])[:40]
	}
	return name
}

// TryNamedLock takes MySQL's named lock name without waiting, on a
// connection of its own that holds it until release: a process that dies
// releases it with its connection, so no lock outlives its holder. held is
// false when another session holds it. SQLite has no such lock: there it
// holds nothing and release does nothing.
func TryNamedLock(ctx context.Context, db *gorm.DB, name string) (release func(), held bool, err error) {
	if db.Name() != "mysql" {
		return func() {}, true, nil
	}
	pool, err := db.DB()
	if err != nil {
		return nil, false, err
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, false, dbError(err, nil)
	}
	var got *int
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil {
		return nil, false, errors.Join(dbError(err, nil), conn.Close())
	}
	if got == nil || *got != 1 {
		return nil, false, conn.Close()
	}
	return func() {
		if _, err := conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK(?)", name); err != nil {
			// A connection handed back to the pool would keep the lock:
			// this one is discarded, and its session with the lock ends.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}, true, nil
}
