package dao

import (
	"context"

	"gorm.io/gorm"
)

// filterRefs tells whether the department and the tracker a conversation
// filter names are the tenant's (conversation.FilterRefs); the conversation
// list and the search share it.
type filterRefs struct{ db *gorm.DB }

// HasDepartment reports whether the tenant has the department.
func (r filterRefs) HasDepartment(ctx context.Context, tenantID, id int64) (bool, error) {
	return anyRow(conn(ctx, r.db).Table("departments").Where("tenant_id = ? AND id = ?", tenantID, id))
}

// HasLiveTracker reports whether the tenant has the tracker, not deleted.
func (r filterRefs) HasLiveTracker(ctx context.Context, tenantID, id int64) (bool, error) {
	return anyRow(conn(ctx, r.db).Table("trackers").Where("tenant_id = ? AND id = ? AND deleted_at IS NULL", tenantID, id))
}

// anyRow reports whether q finds a row.
func anyRow(q *gorm.DB) (bool, error) {
	var ids []int64
	err := q.Limit(1).Pluck("id", &ids).Error
	return len(ids) > 0, dbError(err, nil)
}
