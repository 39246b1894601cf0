package dao

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/model"
)

// Events stores the partner event log (migration 0011).
type Events struct{ db *gorm.DB }

// NewEvents works on db.
func NewEvents(db *gorm.DB) *Events { return &Events{db: db} }

// errNoTransaction: an event must be written with its change.
var errNoTransaction = errors.New("events are appended only inside the transaction of their change")

// Append stores evs in the transaction ctx carries, setting their ids and
// times. For each tenant, in ascending order (so two appenders never wait
// on each other crosswise), it raises the tenant's sequence row by the
// number of its events, which locks the row until the transaction ends;
// then it inserts every event with one statement. Ids are therefore handed
// out in commit order: a transaction that appends after this one waits for
// it to commit or roll back. Callers make it their last write, so the lock
// is held only for the commit.
func (r *Events) Append(ctx context.Context, evs []model.Event) error {
	if len(evs) == 0 {
		return nil
	}
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return dbError(errNoTransaction, nil)
	}
	db := tx.WithContext(ctx)
	now := dbNow()
	count := map[int64]int64{}
	for _, e := range evs {
		count[e.TenantID]++
	}
	tenants := make([]int64, 0, len(count))
	for t := range count {
		tenants = append(tenants, t)
	}
	slices.Sort(tenants)
	next := make(map[int64]int64, len(tenants))
	for _, t := range tenants {
		last, err := raiseSeq(db, t, count[t], now)
		if err != nil {
			return dbError(err, nil)
		}
		next[t] = last - count[t] + 1
	}
	for i := range evs {
		evs[i].ID, evs[i].OccurredAt = next[evs[i].TenantID], now
		next[evs[i].TenantID]++
	}
	return dbError(db.Create(&evs).Error, nil)
}

// raiseSeq adds n to the tenant's last event id (creating its row) and
// returns the new value.
func raiseSeq(db *gorm.DB, tenantID, n int64, now time.Time) (int64, error) {
	upsert := "INSERT INTO event_seqs (tenant_id, last_id, trimmed_through, updated_at) VALUES (?, ?, 0, ?) " +
		"ON DUPLICATE KEY UPDATE last_id = last_id + VALUES(last_id), updated_at = VALUES(updated_at)"
	if db.Name() != "mysql" {
		upsert = "INSERT INTO event_seqs (tenant_id, last_id, trimmed_through, updated_at) VALUES (?, ?, 0, ?) " +
			"ON CONFLICT (tenant_id) DO UPDATE SET last_id = last_id + excluded.last_id, updated_at = excluded.updated_at"
	}
	if err := db.Exec(upsert, tenantID, n, now).Error; err != nil {
		return 0, err
	}
	var last int64
	err := db.Raw("SELECT last_id FROM event_seqs WHERE tenant_id = ?", tenantID).Row().Scan(&last)
	return last, err
}

// After returns at most limit events of the tenant with ids above cursor,
// and at most upTo when it is above 0, of the given types (all when none),
// by id; and, read after them, the id
// through which the tenant's events were trimmed. Trimming deletes events
// and raises that id in one transaction, so if it is at most cursor, no
// event above cursor was missing from the read. Read in a Snapshot, that id
// is as of the events' read, and one above cursor means the events through
// it were gone before they were read.
func (r *Events) After(ctx context.Context, tenantID, cursor, upTo int64, types []string, limit int) ([]model.Event, int64, error) {
	db := conn(ctx, r.db)
	q := db.Where("tenant_id = ? AND id > ?", tenantID, cursor)
	if upTo > 0 {
		q = q.Where("id <= ?", upTo)
	}
	if len(types) > 0 {
		q = q.Where("type IN ?", types)
	}
	var out []model.Event
	if err := q.Order("id").Limit(limit).Find(&out).Error; err != nil {
		return nil, 0, dbError(err, nil)
	}
	_, trimmed, err := r.Head(ctx, tenantID)
	return out, trimmed, err
}

// Snapshot runs fn in a read-only transaction whose reads of the log see
// one consistent snapshot (see snapshot): a read of the events and of how
// far they were trimmed agree, whatever the trimmer commits meanwhile.
func (r *Events) Snapshot(ctx context.Context, fn func(ctx context.Context) error) error {
	return snapshot(ctx, r.db, fn)
}

// Head returns the tenant's newest event id and the id through which its
// events were trimmed; zeros when it has none.
func (r *Events) Head(ctx context.Context, tenantID int64) (last, trimmed int64, err error) {
	var rows []struct{ LastID, TrimmedThrough int64 }
	err = conn(ctx, r.db).Raw("SELECT last_id, trimmed_through FROM event_seqs WHERE tenant_id = ?", tenantID).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		return 0, 0, dbError(err, nil)
	}
	return rows[0].LastID, rows[0].TrimmedThrough, nil
}

// Heads returns the newest event id of each of the tenants that has one.
func (r *Events) Heads(ctx context.Context, tenantIDs []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(tenantIDs))
	if len(tenantIDs) == 0 {
		return out, nil
	}
	var rows []struct{ TenantID, LastID int64 }
	if err := conn(ctx, r.db).Raw("SELECT tenant_id, last_id FROM event_seqs WHERE tenant_id IN ?", tenantIDs).Scan(&rows).Error; err != nil {
		return nil, dbError(err, nil)
	}
	for _, row := range rows {
		out[row.TenantID] = row.LastID
	}
	return out, nil
}

// Trim deletes a batch of about limit of the oldest events that occurred
// before before, and returns how many it deleted. Per tenant it deletes
// every event up to the newest id of the batch and raises the tenant's
// trimmed_through to it in the same transaction, so a reader never takes
// a trimmed stretch for an empty one. Several instances may trim at once:
// a second delete of the same rows deletes nothing.
func (r *Events) Trim(ctx context.Context, before time.Time, limit int) (int, error) {
	var batch []struct{ TenantID, ID int64 }
	err := r.db.WithContext(ctx).Raw("SELECT tenant_id, id FROM events WHERE occurred_at < ? ORDER BY occurred_at LIMIT ?",
		before.UTC(), limit).Scan(&batch).Error
	if err != nil || len(batch) == 0 {
		return 0, dbError(err, nil)
	}
	through := map[int64]int64{}
	for _, e := range batch {
		through[e.TenantID] = max(through[e.TenantID], e.ID)
	}
	tenants := make([]int64, 0, len(through))
	for t := range through {
		tenants = append(tenants, t)
	}
	slices.Sort(tenants)
	raise := "UPDATE event_seqs SET trimmed_through = GREATEST(trimmed_through, ?) WHERE tenant_id = ?"
	if r.db.Name() != "mysql" {
		raise = "UPDATE event_seqs SET trimmed_through = MAX(trimmed_through, ?) WHERE tenant_id = ?"
	}
	deleted := 0
	// READ COMMITTED: the deletes take no gap locks, so an appender that
	// holds a sequence row and inserts above the trimmed ids never waits
	// on a trimmer that waits for that row.
	err = r.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		deleted = 0
		for _, t := range tenants {
			res := db.Exec("DELETE FROM events WHERE tenant_id = ? AND id <= ?", t, through[t])
			if res.Error != nil {
				return res.Error
			}
			deleted += int(res.RowsAffected)
			if err := db.Exec(raise, through[t], t).Error; err != nil {
				return err
			}
		}
		return nil
	}, &sql.TxOptions{Isolation: sql.LevelReadCommitted}) // SQLite ignores the level: it is serializable
	return deleted, dbError(err, nil)
}
