package dao

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/coalesce"
)

// WAL empties the embedded SQLite store's write-ahead log after personal
// data is deleted. secure_delete zeroes what a DELETE or UPDATE frees in
// the database file, but the WAL keeps every page as it was written, the
// deleted rows in it, until later writes overwrite its frames or a clean
// stop removes it: a checkpoint copies the frames into the database file
// and leaves them where they are, and a kill -9 keeps the file. A
// truncating checkpoint (PRAGMA wal_checkpoint(TRUNCATE)) copies every
// frame and then truncates the WAL to zero bytes. It completes only when
// no reader holds a snapshot older than the last frame (a read in this
// process, or in the other one of an upgrade, which shares the file): it
// waits for them a while and is tried again. On MySQL it does
// nothing (InnoDB's redo log is its own, see the README).
type WAL struct {
	db     *gorm.DB
	sqlite bool
	log    zerolog.Logger

	// tries, busy and pause bound Truncate.
	tries       int
	busy, pause time.Duration

	// job is the background truncation (Start).
	job *coalesce.Job
}

// WALDelay is how long after a deletion the background truncation runs
// (deletions within it share one), and WALEvery the least time between two.
const (
	WALDelay = 2 * time.Second
	WALEvery = 10 * time.Second
	walTries = 48
	walBusy  = 50 * time.Millisecond
	walPause = 200 * time.Millisecond
)

// NewWAL truncates db's WAL when db is SQLite, and does nothing otherwise.
func NewWAL(db *gorm.DB, log zerolog.Logger) *WAL {
	return newWAL(db, log, WALDelay, WALEvery, nil)
}

// newWAL is NewWAL with the background truncation's delay and every, and
// truncated told of each background truncation (for tests).
func newWAL(db *gorm.DB, log zerolog.Logger, delay, every time.Duration, truncated func(error)) *WAL {
	w := &WAL{db: db, sqlite: db.Name() == "sqlite", log: log, tries: walTries, busy: walBusy, pause: walPause}
	w.job = coalesce.New(coalesce.Options{
		Delay: delay,
		Gap:   func(time.Duration) time.Duration { return every },
		Run: func(ctx context.Context) error {
			err := w.Truncate(ctx)
			if err != nil && ctx.Err() == nil {
				w.log.Warn().Err(err).Msg("database: deleted rows stay in the SQLite WAL until the next try")
			}
			return err
		},
		Ran: truncated,
	})
	return w
}

// Truncate checkpoints the whole WAL into the database file and truncates
// it to zero bytes, so that no deleted row's old page is left in it. It
// must not run inside a transaction. A checkpoint that readers keep from
// completing is tried again, walTries times in all, each waiting up to
// walBusy for them and walPause apart (about 12 s in all); then it fails,
// and the caller tries again later.
func (w *WAL) Truncate(ctx context.Context) error {
	if w == nil || !w.sqlite {
		return nil
	}
	var busy, frames, done int
	var err error
	for i := range w.tries {
		if i > 0 {
			t := time.NewTimer(w.pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		// An error (the store locked by the other process of an
		// upgrade) is tried again as a busy checkpoint is.
		if busy, frames, done, err = w.checkpoint(ctx); err == nil && busy == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("the SQLite WAL could not be truncated: readers kept %d of its %d frames (%d tries)", frames-done, frames, w.tries)
}

// checkpoint runs one truncating checkpoint on a connection of its own
// (never conn(ctx): a checkpoint inside a transaction could not copy that
// transaction's frames). While it waits for readers it holds the write
// lock, so it waits walBusy rather than busy_timeout, and briefly: a
// writer queued behind it, or a transaction beginning (IMMEDIATE, see
// sqliteDSN), waits at most that much longer. Many short tries rather
// than a few long ones leave writers the store most of the time a reader
// keeps it from completing.
func (w *WAL) checkpoint(ctx context.Context) (busy, frames, done int, err error) {
	sqlDB, err := w.db.DB()
	if err != nil {
		return 0, 0, 0, err
	}
	c, err := sqlDB.Conn(ctx)
	if err != nil {
		return 0, 0, 0, dbError(err, nil)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", w.busy.Milliseconds())); err != nil {
		return 0, 0, 0, dbError(err, nil)
	}
	err = c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &done)
	// The connection goes back to the pool as the DSN set it up.
	if _, rerr := c.ExecContext(context.WithoutCancel(ctx), "PRAGMA busy_timeout = 5000"); rerr != nil {
		_ = c.Raw(func(any) error { return driver.ErrBadConn })
	}
	if err != nil {
		return 0, 0, 0, dbError(err, nil)
	}
	return busy, frames, done, nil
}

// Ask has the background truncation run soon (Start); it never blocks, so
// that a deletion a caller waits for does not wait for it.
func (w *WAL) Ask() {
	if w == nil || !w.sqlite {
		return
	}
	w.job.Ask()
}

// Start runs the background truncation: delay after the first deletion it
// is asked for, and at least every apart, so that a stream of deletions
// truncates the WAL every few seconds rather than after each. A truncation
// that fails is tried again after every.
func (w *WAL) Start() {
	if w == nil || !w.sqlite {
		return
	}
	w.job.Start()
}

// Close stops the background truncation (a truncation under way ends).
func (w *WAL) Close() {
	if w == nil {
		return
	}
	w.job.Stop()
}
