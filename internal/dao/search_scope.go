package dao

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/model"
)

// SearchLookups are the MySQL reads a search needs around the engine query:
// the data scope and department filter as owner ids (so that they follow
// the org tree as it is now, exactly like ScopeConversations), the tracker
// filter as conversation ids, and the rows shown in results.
type SearchLookups struct {
	db *gorm.DB
	filterRefs
}

// NewSearchLookups works on db.
func NewSearchLookups(db *gorm.DB) *SearchLookups {
	return &SearchLookups{db: db, filterRefs: filterRefs{db: db}}
}

// ScopeOwners lists the owners whose conversations s may see; nil means the
// whole tenant. The rule is ScopeUsers'.
func (r *SearchLookups) ScopeOwners(ctx context.Context, s model.Scope) ([]int64, error) {
	switch {
	case s.WholeTenant():
		return nil, nil
	case s.Role == model.RoleManager && s.DepartmentPath != "":
		ids := []int64{}
		err := ScopeUsers(r.db.WithContext(ctx).Table("users AS u"), s).Pluck("u.id", &ids).Error
		return ids, dbError(err, nil)
	default:
		return []int64{s.UserID}, nil
	}
}

// DepartmentOwners lists the users of a department's subtree; ok is false
// when the tenant has no such department.
func (r *SearchLookups) DepartmentOwners(ctx context.Context, tenantID, departmentID int64) (ids []int64, ok bool, err error) {
	var path string
	db := r.db.WithContext(ctx)
	err = db.Table("departments").Select("path").Where("tenant_id = ? AND id = ?", tenantID, departmentID).Limit(1).Scan(&path).Error
	if err != nil || path == "" {
		return nil, false, dbError(err, nil)
	}
	ids = []int64{}
	err = db.Table("users AS u").Joins("JOIN departments AS d ON d.id = u.department_id").
		Where("u.tenant_id = ? AND d.tenant_id = ? AND d.path LIKE ?", tenantID, tenantID, likePrefix(path)).
		Pluck("u.id", &ids).Error
	return ids, true, dbError(err, nil)
}

// TrackerConversations lists up to limit conversations that s may see and
// f matches (f.TrackerID, a live tracker, among the rest: the time range,
// owners, department, deal, direction and durations), so that a search
// narrowed by them reaches the engine with the ids of that range alone.
func (r *SearchLookups) TrackerConversations(ctx context.Context, s model.Scope, f model.ConversationFilter, limit int) ([]int64, error) {
	ids := []int64{}
	db := r.db.WithContext(ctx)
	q, err := FilterConversations(ctx, ScopeConversations(db.Table("conversations AS c"), s), db, s.TenantID, f)
	if err != nil || q == nil {
		return ids, err
	}
	err = q.Order("c.id").Limit(limit).Pluck("c.id", &ids).Error
	return ids, dbError(err, nil)
}

// Location is the tenant's time zone (UTC when unset or unknown).
func (r *SearchLookups) Location(ctx context.Context, tenantID int64) (*time.Location, error) {
	var tz string
	err := r.db.WithContext(ctx).Table("tenants").Select("timezone").Where("id = ?", tenantID).Limit(1).Scan(&tz).Error
	if err != nil {
		return nil, dbError(err, nil)
	}
	return model.TenantLocation(tz), nil
}

// UserNames maps user ids of a tenant to names.
func (r *SearchLookups) UserNames(ctx context.Context, tenantID int64, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []model.User
	err := r.db.WithContext(ctx).Select("id, name").Where("tenant_id = ? AND id IN ?", tenantID, ids).Find(&rows).Error
	for _, u := range rows {
		out[u.ID] = u.Name
	}
	return out, dbError(err, nil)
}

// Conversations reads the conversations ids that s may see (the scope is
// checked again: the index is derived data).
func (r *SearchLookups) Conversations(ctx context.Context, s model.Scope, ids []int64) (map[int64]model.Conversation, error) {
	out := make(map[int64]model.Conversation, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []model.Conversation
	err := ScopeConversations(r.db.WithContext(ctx).Table("conversations AS c"), s).Select("c.*").Where("c.id IN ?", ids).Find(&rows).Error
	for _, c := range rows {
		out[c.ID] = c
	}
	return out, dbError(err, nil)
}
