package dao

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// SigninThrottle counts sign-in attempts per bucket (a hashed account, app
// key or client address) in a window, in the database, so that every
// instance of the fleet spends one budget.
type SigninThrottle struct{ db *gorm.DB }

// NewSigninThrottle works on db.
func NewSigninThrottle(db *gorm.DB) *SigninThrottle { return &SigninThrottle{db: db} }

// Hit counts one attempt in bucket's window, starting a new window at now
// when the current one began at or before expired, and returns the
// attempts of the window, this one included, and when it began. The count
// and its read are one transaction holding the row's lock, so concurrent
// hits (from any instance) each see their own number.
func (r *SigninThrottle) Hit(ctx context.Context, bucket, kind string, now, expired time.Time) (int, time.Time, error) {
	now, expired = now.UTC(), expired.UTC()
	conflict := "ON CONFLICT (bucket) DO UPDATE SET"
	if r.db.Name() == "mysql" {
		conflict = "ON DUPLICATE KEY UPDATE"
	}
	var row struct {
		Attempts    int
		WindowStart time.Time
	}
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// MySQL assigns left to right, each seeing the values assigned
		// before it: attempts is decided on the old window_start, then
		// window_start (still the old value in its own condition) moves.
		err := tx.Exec("INSERT INTO signin_throttle (bucket, kind, attempts, window_start, updated_at) VALUES (?, ?, 1, ?, ?) "+conflict+
			" attempts = CASE WHEN window_start <= ? THEN 1 ELSE attempts + 1 END,"+
			" window_start = CASE WHEN window_start <= ? THEN ? ELSE window_start END,"+
			" updated_at = ?",
			bucket, kind, now, now, expired, expired, now, now).Error
		if err != nil {
			return err
		}
		return tx.Raw("SELECT attempts, window_start FROM signin_throttle WHERE bucket = ?", bucket).Scan(&row).Error
	})
	if err != nil {
		return 0, time.Time{}, dbError(err, nil)
	}
	return row.Attempts, row.WindowStart.UTC(), nil
}

// Refund takes one attempt of bucket back (a success, or an attempt another
// bucket refused).
func (r *SigninThrottle) Refund(ctx context.Context, bucket string) error {
	return dbError(conn(ctx, r.db).Exec("UPDATE signin_throttle SET attempts = attempts - 1 WHERE bucket = ? AND attempts > 0", bucket).Error, nil)
}

// Reset forgets bucket's attempts.
func (r *SigninThrottle) Reset(ctx context.Context, bucket string) error {
	return dbError(conn(ctx, r.db).Exec("DELETE FROM signin_throttle WHERE bucket = ?", bucket).Error, nil)
}

// Seen reports whether bucket's window began at or after since.
func (r *SigninThrottle) Seen(ctx context.Context, bucket string, since time.Time) (bool, error) {
	var n int64
	err := conn(ctx, r.db).Raw("SELECT COUNT(*) FROM signin_throttle WHERE bucket = ? AND window_start >= ?", bucket, since.UTC()).Scan(&n).Error
	return n > 0, dbError(err, nil)
}

// Trim deletes up to limit buckets whose window began before before,
// except those of kind keep, which go once theirs began before keepBefore,
// and returns how many it deleted.
func (r *SigninThrottle) Trim(ctx context.Context, before time.Time, keep string, keepBefore time.Time, limit int) (int64, error) {
	db := conn(ctx, r.db)
	cond := "(kind <> ? AND window_start < ?) OR (kind = ? AND window_start < ?)"
	args := []any{keep, before.UTC(), keep, keepBefore.UTC()}
	var res *gorm.DB
	if db.Name() == "mysql" {
		res = db.Exec("DELETE FROM signin_throttle WHERE "+cond+" LIMIT ?", append(args, limit)...)
	} else {
		res = db.Exec("DELETE FROM signin_throttle WHERE bucket IN (SELECT bucket FROM signin_throttle WHERE "+cond+" LIMIT ?)", append(args, limit)...)
	}
	return res.RowsAffected, dbError(res.Error, nil)
}
