package dao

import (
	"context"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/model"
)

// hitBatch bounds one INSERT of tracker hits (8 columns: far below both
// dialects' placeholder limits).
const hitBatch = 500

// InsertTrackerHits adds hits, in the transaction ctx carries if any (the
// transcript write's, for its hook).
func (r *Trackers) InsertTrackerHits(ctx context.Context, hits []model.TrackerHit) error {
	return insertHits(conn(ctx, r.db), hits)
}

func insertHits(db *gorm.DB, hits []model.TrackerHit) error {
	if len(hits) == 0 {
		return nil
	}
	return dbError(db.CreateInBatches(&hits, hitBatch).Error, nil)
}

// replaceTrackerHits replaces one tracker's hits in some conversations.
func replaceTrackerHits(db *gorm.DB, tenantID, trackerID int64, conversationIDs []int64, hits []model.TrackerHit) error {
	err := db.Exec("DELETE FROM tracker_hits WHERE tenant_id = ? AND tracker_id = ? AND conversation_id IN ?",
		tenantID, trackerID, conversationIDs).Error
	if err != nil {
		return dbError(err, nil)
	}
	return insertHits(db, hits)
}

// purgeTrackerHits deletes at most limit hits of a tracker. It deletes by
// primary key: MySQL refuses LIMIT in an IN subquery and SQLite a LIMIT
// on DELETE, and a key lookup locks only the rows it deletes.
func purgeTrackerHits(db *gorm.DB, tenantID, trackerID int64, limit int) (int, error) {
	var ids []int64
	err := db.Model(&model.TrackerHit{}).Where("tenant_id = ? AND tracker_id = ?", tenantID, trackerID).
		Limit(limit).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, dbError(err, nil)
	}
	if err := db.Exec("DELETE FROM tracker_hits WHERE id IN ?", ids).Error; err != nil {
		return 0, dbError(err, nil)
	}
	return len(ids), nil
}
