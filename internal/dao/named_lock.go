package dao

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"sync"
	"time"

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

// NamedLock is MySQL's named lock, held by a connection of its own: a
// process that dies releases it with its connection, so no lock outlives
// its holder. While held, the connection asks the server every lockCheck
// (or every third of its wait_timeout, if shorter) whether it still holds
// the lock, so that the server does not end an idle session, and the lock
// with it, under a holder that runs longer than that (a rebuild of a
// large index, a migration that rebuilds a table); Lost is closed should
// the session end anyway (the server restarted, the connection was
// killed), within that interval, so the holder can stop before another
// process takes the lock and works beside it for long.
type NamedLock struct {
	conn *sql.Conn // nil on SQLite
	name string
	lost chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// lockCheck is how often a held lock asks whether it still holds: a lost
// lock is known within it.
const lockCheck = 5 * time.Second

// TakeNamedLock takes the named lock name, waiting up to wait for it (0:
// not at all); held is false when another session holds it still. SQLite
// has no such lock: there it holds nothing, and Release does nothing.
func TakeNamedLock(ctx context.Context, db *gorm.DB, name string, wait time.Duration) (_ *NamedLock, held bool, err error) {
	l := &NamedLock{name: name, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	if db.Name() != "mysql" {
		close(l.done)
		return l, true, nil
	}
	pool, err := db.DB()
	if err != nil {
		return nil, false, err
	}
	if l.conn, err = pool.Conn(ctx); err != nil {
		return nil, false, dbError(err, nil)
	}
	var got *int
	var idle int64
	if err := l.conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?), @@wait_timeout", name, int(wait.Seconds())).Scan(&got, &idle); err != nil {
		return nil, false, errors.Join(dbError(err, nil), l.conn.Close())
	}
	if got == nil || *got != 1 {
		return nil, false, l.conn.Close()
	}
	go l.keep(max(time.Second, min(lockCheck, time.Duration(idle)*time.Second/3)))
	return l, true, nil
}

// keep asks every interval whether the session still holds the lock,
// until Release; it closes lost when it does not.
func (l *NamedLock) keep(interval time.Duration) {
	defer close(l.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		var holder *int64
		err := l.conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?) = CONNECTION_ID()", l.name).Scan(&holder)
		cancel()
		if err != nil || holder == nil || *holder != 1 {
			close(l.lost)
			return
		}
	}
}

// Lost is closed when the lock was lost while held.
func (l *NamedLock) Lost() <-chan struct{} { return l.lost }

// Release gives the lock back and the connection with it; it may be
// called more than once.
func (l *NamedLock) Release() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		if l.conn == nil {
			return
		}
		if _, err := l.conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK(?)", l.name); err != nil {
			// A connection handed back to the pool would keep the lock:
			// this one is discarded, and its session with the lock ends.
			_ = l.conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = l.conn.Close()
	})
}

// WhileHeld is ctx, canceled with ErrLockLost when l is lost; call stop
// when done with it.
func (l *NamedLock) WhileHeld(ctx context.Context) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-l.lost:
			cancel(ErrLockLost)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// ErrLockLost is the cause of a WhileHeld context canceled because the
// lock was lost.
var ErrLockLost = errors.New("the database's named lock was lost (the session holding it ended): another process may have taken it")
