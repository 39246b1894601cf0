package dao

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/megaview/mgvcore/internal/model"
)

// TokenVersions stores the token version of each user and app.
type TokenVersions struct{ db *gorm.DB }

// NewTokenVersions works on db.
func NewTokenVersions(db *gorm.DB) *TokenVersions { return &TokenVersions{db: db} }

// Bump raises the token version of a user or an app by one (from 0 when it
// has none yet) and returns the new row.
func (r *TokenVersions) Bump(ctx context.Context, kind string, tenantID, subjectID int64, reason string, at time.Time) (*model.TokenVersion, error) {
	row := model.TokenVersion{Kind: kind, SubjectID: subjectID, TenantID: tenantID, Version: 1, Reason: reason, ChangedAt: at}
	err := conn(ctx, r.db).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "kind"}, {Name: "subject_id"}},
		DoUpdates: clause.Assignments(map[string]any{
			"version":    gorm.Expr("version + 1"),
			"reason":     reason,
			"changed_at": at,
		}),
	}).Create(&row).Error
	if err != nil {
		return nil, dbError(err, nil)
	}
	return r.Current(ctx, kind, subjectID)
}

// Current is the token version of a user or an app: a zero version when
// it was never raised.
func (r *TokenVersions) Current(ctx context.Context, kind string, subjectID int64) (*model.TokenVersion, error) {
	var rows []model.TokenVersion
	if err := conn(ctx, r.db).Where("kind = ? AND subject_id = ?", kind, subjectID).Limit(1).Find(&rows).Error; err != nil {
		return nil, dbError(err, nil)
	}
	if len(rows) == 0 {
		return &model.TokenVersion{Kind: kind, SubjectID: subjectID}, nil
	}
	return &rows[0], nil
}

// ChangedSince lists the versions raised at or after since.
func (r *TokenVersions) ChangedSince(ctx context.Context, since time.Time) ([]model.TokenVersion, error) {
	var rows []model.TokenVersion
	if err := conn(ctx, r.db).Where("changed_at >= ?", since).Find(&rows).Error; err != nil {
		return nil, dbError(err, nil)
	}
	return rows, nil
}
