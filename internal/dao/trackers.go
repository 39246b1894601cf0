package dao

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

var errTrackerNotFound = errs.NotFound(errs.ReasonTrackerNotFound, "no such tracker")

// Trackers stores keyword trackers and their hits. Every change that alters
// what a tracker matches commits, with it, an outbox job for the new
// version (model.OutboxTrackerApply) and drops the jobs of older versions.
type Trackers struct{ db *gorm.DB }

// NewTrackers works on db.
func NewTrackers(db *gorm.DB) *Trackers { return &Trackers{db: db} }

// ListTrackers returns the live trackers of a tenant by id, in the
// transaction ctx carries if any.
func (r *Trackers) ListTrackers(ctx context.Context, tenantID int64) ([]model.Tracker, error) {
	return r.PageTrackers(ctx, tenantID, 0, 0)
}

// PageTrackers returns the live trackers of a tenant with an id above
// afterID by id, at most limit of them (all when limit is 0), in the
// transaction ctx carries if any.
func (r *Trackers) PageTrackers(ctx context.Context, tenantID, afterID int64, limit int) ([]model.Tracker, error) {
	var out []model.Tracker
	q := liveTrackers(conn(ctx, r.db), tenantID).Where("id > ?", afterID).Order("id")
	if limit > 0 {
		q = q.Limit(limit)
	}
	return out, dbError(q.Find(&out).Error, nil)
}

// CountTrackers counts the live trackers of a tenant, the whole list
// PageTrackers pages, in the transaction ctx carries if any.
func (r *Trackers) CountTrackers(ctx context.Context, tenantID int64) (int64, error) {
	var n int64
	err := liveTrackers(conn(ctx, r.db).Model(&model.Tracker{}), tenantID).Count(&n).Error
	return n, dbError(err, nil)
}

// liveTrackers keeps the tenant's trackers that are not deleted: what a
// page shows and what its total counts.
func liveTrackers(q *gorm.DB, tenantID int64) *gorm.DB {
	return q.Where("tenant_id = ? AND deleted_at IS NULL", tenantID)
}

// GetTracker returns a live tracker of the tenant.
func (r *Trackers) GetTracker(ctx context.Context, tenantID, id int64) (*model.Tracker, error) {
	var t model.Tracker
	err := conn(ctx, r.db).Where("tenant_id = ? AND id = ? AND deleted_at IS NULL", tenantID, id).Take(&t).Error
	if err != nil {
		return nil, dbError(err, errTrackerNotFound)
	}
	return &t, nil
}

// CreateTracker inserts t at version 1 with its application job. When
// maxPerTenant > 0 and the tenant has that many live trackers already it
// answers TRACKER_QUOTA_EXCEEDED instead: the count and the insert run
// under the tenant row's lock, so creates racing for the last place, on
// any instance, cannot both win.
func (r *Trackers) CreateTracker(ctx context.Context, t *model.Tracker, maxPerTenant int) error {
	return NewTransactor(r.db).InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, r.db)
		if maxPerTenant > 0 {
			n, err := countUnderTenantLock(db, t.TenantID, &model.Tracker{}, "deleted_at IS NULL")
			if err != nil {
				return err
			}
			if n >= int64(maxPerTenant) {
				return errs.Of(errs.ReasonTrackerQuotaExceeded,
					"the tenant has %d trackers, the most it may have (trackers.max_per_tenant = %d); delete one before creating another",
					n, maxPerTenant).With("max_trackers", strconv.Itoa(maxPerTenant))
			}
		}
		t.Version, t.MatchRule, t.CreatedAt, t.UpdatedAt, t.DeletedAt = 1, model.TrackerMatchRule, dbNow(), dbNow(), nil
		if err := db.Create(t).Error; err != nil {
			return dbError(err, nil)
		}
		return enqueue(db, trackerJob(t.TenantID, t.ID, t.Version))
	})
}

// UpdateTracker saves t's name, keywords and affiliation. When keywords or
// affiliation change it bumps the version and queues the re-application;
// the decision is taken under the row's lock, so two concurrent updates
// cannot both miss it.
func (r *Trackers) UpdateTracker(ctx context.Context, t *model.Tracker) (bool, error) {
	var rematch bool
	err := NewTransactor(r.db).InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, r.db)
		cur, err := lockTracker(db, t.TenantID, t.ID)
		if err != nil {
			return err
		}
		rematch = cur.Affiliation != t.Affiliation || !sameKeywords(cur.Keywords, t.Keywords)
		t.Version, t.MatchRule, t.CreatedAt, t.UpdatedAt = cur.Version, cur.MatchRule, cur.CreatedAt, dbNow()
		if rematch {
			t.Version++
			t.MatchRule = model.TrackerMatchRule
		}
		err = db.Exec("UPDATE trackers SET name = ?, keywords = ?, affiliation = ?, version = ?, match_rule = ?, updated_at = ? WHERE id = ?",
			t.Name, t.Keywords, t.Affiliation, t.Version, t.MatchRule, t.UpdatedAt, t.ID).Error
		if err != nil || !rematch {
			return dbError(err, nil)
		}
		return requeueTracker(db, t.TenantID, t.ID, t.Version)
	})
	return rematch, err
}

// DeleteTracker soft-deletes a live tracker and queues the purge of its hits.
// Readers count only hits of live trackers, so the hits vanish at once.
func (r *Trackers) DeleteTracker(ctx context.Context, tenantID, id int64) error {
	return NewTransactor(r.db).InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, r.db)
		cur, err := lockTracker(db, tenantID, id)
		if err != nil {
			return err
		}
		now := dbNow()
		err = db.Exec("UPDATE trackers SET deleted_at = ?, updated_at = ?, version = ? WHERE id = ?", now, now, cur.Version+1, id).Error
		if err != nil {
			return dbError(err, nil)
		}
		return requeueTracker(db, tenantID, id, cur.Version+1)
	})
}

// ApplyingTrackers returns the tenant's trackers with a job pending.
func (r *Trackers) ApplyingTrackers(ctx context.Context, tenantID int64) (map[int64]bool, error) {
	var ids []int64
	err := conn(ctx, r.db).Model(&model.OutboxJob{}).Distinct("tracker_id").
		Where("kind IN ? AND tenant_id = ?", model.OutboxTrackerKinds, tenantID).Pluck("tracker_id", &ids).Error
	if err != nil {
		return nil, dbError(err, nil)
	}
	out := make(map[int64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// lockTracker takes a live tracker's row for a read-then-write transaction.
// Writing the row first takes the row lock on MySQL and the write lock on
// SQLite alike (see LockForTranscripts).
func lockTracker(db *gorm.DB, tenantID, id int64) (*model.Tracker, error) {
	err := db.Exec("UPDATE trackers SET version = version WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL", tenantID, id).Error
	if err != nil {
		return nil, dbError(err, nil)
	}
	var t model.Tracker
	if err := db.Where("tenant_id = ? AND id = ? AND deleted_at IS NULL", tenantID, id).Take(&t).Error; err != nil {
		return nil, dbError(err, errTrackerNotFound)
	}
	return &t, nil
}

// requeueTracker replaces the tracker's pending jobs by one for version.
func requeueTracker(db *gorm.DB, tenantID, trackerID, version int64) error {
	return replaceTrackerJobs(db, tenantID, trackerID, version, version-1)
}

// replaceTrackerJobs deletes the tracker's jobs up to version upTo, of
// either kind, and queues one for version. A job deleted while a worker
// runs it ends at that worker's next batch, which finds it gone.
func replaceTrackerJobs(db *gorm.DB, tenantID, trackerID, version, upTo int64) error {
	err := db.Exec("DELETE FROM outbox WHERE kind IN ? AND tracker_id = ? AND version <= ? AND tenant_id = ?",
		model.OutboxTrackerKinds, trackerID, upTo, tenantID).Error
	if err != nil {
		return dbError(err, nil)
	}
	return enqueue(db, trackerJob(tenantID, trackerID, version))
}

func trackerJob(tenantID, trackerID, version int64) model.OutboxJob {
	return model.OutboxJob{TenantID: tenantID, Kind: model.OutboxTrackerApply, TrackerID: trackerID, Version: version}
}

// sameKeywords compares stored keyword lists by value: MySQL normalizes
// the text of a JSON column.
func sameKeywords(a, b string) bool {
	var x, y []string
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	return slices.Equal(x, y)
}
