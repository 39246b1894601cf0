package dao

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/errs"
)

// Retention stores each tenant's retention setting and its daily runs.
type Retention struct{ db *gorm.DB }

// NewRetention works on db.
func NewRetention(db *gorm.DB) *Retention { return &Retention{db: db} }

// RetentionDays reads a tenant's setting.
func (r *Retention) RetentionDays(ctx context.Context, tenantID int64) (int, error) {
	return retentionDays(conn(ctx, r.db), tenantID, "")
}

// retentionDays reads a tenant's setting, with lock (a locking clause, or
// "") at the end of its SELECT.
func retentionDays(db *gorm.DB, tenantID int64, lock string) (int, error) {
	var days []int
	if err := db.Raw("SELECT retention_days FROM tenants WHERE id = ?"+lock, tenantID).Scan(&days).Error; err != nil {
		return 0, dbError(err, nil)
	}
	if len(days) == 0 {
		return 0, errs.NotFound(errs.ReasonTenantNotFound, "no such tenant")
	}
	return days[0], nil
}

// HoldRetentionDays reads a tenant's retention and holds it until the
// transaction of ctx ends, so that a SetRetentionDays meanwhile waits for
// that transaction: on MySQL a shared lock of the tenant's row (the
// setting's UPDATE takes it exclusively), on SQLite the database's write
// lock, taken by a no-op write first (SQLite refuses a reader that later
// writes once another writer committed).
func (r *Retention) HoldRetentionDays(ctx context.Context, tenantID int64) (int, error) {
	db := conn(ctx, r.db)
	if db.Name() != "mysql" {
		if err := db.Exec("UPDATE tenants SET id = id WHERE id = ?", tenantID).Error; err != nil {
			return 0, dbError(err, nil)
		}
	}
	return retentionDays(db, tenantID, shareMode(db))
}

// SetRetentionDays writes a tenant's setting, from is the setting as the
// caller read it (and judged the change by): when another request changed
// it meanwhile nothing is written and the answer is CONFLICT, so a change
// checked as a lengthening never shortens a retention set since. A
// retention that is on is due at once: a shortened one takes effect at
// the next poll, not up to a day after the last run (a run that finds
// nothing expired costs a query).
func (r *Retention) SetRetentionDays(ctx context.Context, tenantID int64, from, days int) error {
	return NewTransactor(r.db).InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, r.db)
		res := db.Exec("UPDATE tenants SET retention_days = ?, updated_at = ? WHERE id = ? AND retention_days = ?", days, dbNow(), tenantID, from)
		if res.Error != nil {
			return dbError(res.Error, nil)
		}
		if res.RowsAffected == 0 {
			if _, err := r.RetentionDays(ctx, tenantID); err != nil {
				return err
			}
			return errs.Conflict("the retention was changed by another request meanwhile; read it again and retry")
		}
		if days == 0 {
			return nil
		}
		return dbError(db.Exec("UPDATE retention_runs SET last_run_at = ? WHERE tenant_id = ?", time.Unix(0, 0).UTC(), tenantID).Error, nil)
	})
}

// DueRetention lists tenants with a retention whose last run finished
// before before and whose lease ran out (a tenant never run has no row).
func (r *Retention) DueRetention(ctx context.Context, before time.Time, limit int) (map[int64]int, error) {
	var rows []struct {
		ID            int64
		RetentionDays int
	}
	err := conn(ctx, r.db).Raw("SELECT t.id, t.retention_days FROM tenants AS t LEFT JOIN retention_runs AS r ON r.tenant_id = t.id "+
		"WHERE t.retention_days > 0 AND (r.tenant_id IS NULL OR (r.last_run_at <= ? AND r.lease_until <= ?)) ORDER BY t.id LIMIT ?",
		before.UTC(), dbNow(), limit).Scan(&rows).Error
	out := make(map[int64]int, len(rows))
	for _, row := range rows {
		out[row.ID] = row.RetentionDays
	}
	return out, dbError(err, nil)
}

// ClaimRetention is a compare-and-set on the tenant's run row: only the
// instance whose UPDATE finds the run due and free gets it.
func (r *Retention) ClaimRetention(ctx context.Context, tenantID int64, owner string, before time.Time, lease time.Duration) (bool, error) {
	db := conn(ctx, r.db)
	epoch := time.Unix(0, 0).UTC()
	err := db.Exec("INSERT INTO retention_runs (tenant_id, last_run_at, lease_owner, lease_until, deleted) VALUES (?, ?, '', ?, 0)"+onConflictNothing(db),
		tenantID, epoch, epoch).Error
	if err != nil {
		return false, dbError(err, nil)
	}
	now := dbNow()
	res := db.Exec("UPDATE retention_runs SET lease_owner = ?, lease_until = ?, deleted = 0 WHERE tenant_id = ? AND last_run_at <= ? AND lease_until <= ?",
		owner, now.Add(lease), tenantID, before.UTC(), now)
	return res.RowsAffected == 1, dbError(res.Error, nil)
}

// onConflictNothing ends an INSERT that leaves an existing row alone.
func onConflictNothing(db *gorm.DB) string {
	if db.Name() == "mysql" {
		return " ON DUPLICATE KEY UPDATE tenant_id = tenant_id"
	}
	return " ON CONFLICT DO NOTHING"
}

// ExpiredConversations lists conversations that began before cutoff.
func (r *Retention) ExpiredConversations(ctx context.Context, tenantID int64, cutoff time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := r.expired(ctx, tenantID, cutoff).Order("begin_time").Order("id").Limit(limit).Pluck("id", &ids).Error
	return ids, dbError(err, nil)
}

// RenewRetention counts a batch and renews owner's lease. False, and
// nothing written, when owner no longer holds the run or its lease ran
// out: another instance may be claiming it (ClaimRetention takes a run
// whose lease_until has passed).
func (r *Retention) RenewRetention(ctx context.Context, tenantID int64, owner string, deleted int, lease time.Duration) (bool, error) {
	now := dbNow()
	res := conn(ctx, r.db).Exec("UPDATE retention_runs SET deleted = deleted + ?, lease_until = ? WHERE tenant_id = ? AND lease_owner = ? AND lease_until > ?",
		deleted, now.Add(lease), tenantID, owner, now)
	return res.RowsAffected == 1, dbError(res.Error, nil)
}

// FinishRetention ends owner's run, which deleted by a retention of days,
// and frees the lease. The run counts as the tenant's run of the day only
// while days is still the tenant's setting: an admin who changed it
// meanwhile made the tenant due at once (SetRetentionDays), and the end of
// a run by the old setting does not undo that. The tenant's row is
// written first, as SetRetentionDays writes it, so the two take their
// locks in one order.
func (r *Retention) FinishRetention(ctx context.Context, tenantID int64, owner string, days int) error {
	return NewTransactor(r.db).InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, r.db)
		if err := db.Exec("UPDATE tenants SET updated_at = updated_at WHERE id = ?", tenantID).Error; err != nil {
			return dbError(err, nil)
		}
		cur, err := r.RetentionDays(ctx, tenantID)
		if err != nil {
			return err
		}
		now := dbNow()
		set, args := "lease_until = ?", []any{now}
		if cur == days {
			set, args = "last_run_at = ?, lease_until = ?", []any{now, now}
		}
		res := db.Exec("UPDATE retention_runs SET "+set+" WHERE tenant_id = ? AND lease_owner = ?", append(args, tenantID, owner)...)
		if res.Error == nil && res.RowsAffected != 1 {
			return errLeaseLost
		}
		return dbError(res.Error, nil)
	})
}

// CountExpired counts the tenant's conversations that began before cutoff.
func (r *Retention) CountExpired(ctx context.Context, tenantID int64, cutoff time.Time) (int64, error) {
	var n int64
	err := r.expired(ctx, tenantID, cutoff).Count(&n).Error
	return n, dbError(err, nil)
}

// expired selects the tenant's conversations that began before cutoff.
func (r *Retention) expired(ctx context.Context, tenantID int64, cutoff time.Time) *gorm.DB {
	return conn(ctx, r.db).Table("conversations").Where("tenant_id = ? AND begin_time < ?", tenantID, cutoff.UTC())
}
