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
// has none yet) and returns the new row. Any grace of an earlier raise ends.
func (r *TokenVersions) Bump(ctx context.Context, kind string, tenantID, subjectID int64, reason string, at time.Time) (*model.TokenVersion, error) {
	return r.bump(ctx, kind, tenantID, subjectID, reason, at, nil)
}

// BumpWithGrace raises the version by one like Bump, but the tokens of
// the version it had stay valid until until (those of older versions do
// not).
func (r *TokenVersions) BumpWithGrace(ctx context.Context, kind string, tenantID, subjectID int64, reason string, at, until time.Time) (*model.TokenVersion, error) {
	return r.bump(ctx, kind, tenantID, subjectID, reason, at, &until)
}

func (r *TokenVersions) bump(ctx context.Context, kind string, tenantID, subjectID int64, reason string, at time.Time, until *time.Time) (*model.TokenVersion, error) {
	row := model.TokenVersion{Kind: kind, SubjectID: subjectID, TenantID: tenantID, Version: 1, Reason: reason, ChangedAt: at, GraceUntil: until}
	grace := any(0)
	if until != nil {
		grace = gorm.Expr("version")
	}
	// grace_version is assigned before version, so it reads the old one.
	err := conn(ctx, r.db).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "kind"}, {Name: "subject_id"}},
		DoUpdates: clause.Set{
			{Column: clause.Column{Name: "grace_version"}, Value: grace},
			{Column: clause.Column{Name: "version"}, Value: gorm.Expr("version + 1")},
			{Column: clause.Column{Name: "grace_until"}, Value: until},
			{Column: clause.Column{Name: "reason"}, Value: reason},
			{Column: clause.Column{Name: "changed_at"}, Value: at},
		},
	}).Create(&row).Error
	if err != nil {
		return nil, dbError(err, nil)
	}
	return r.Current(ctx, kind, subjectID)
}

// Restamp moves the changed_at of a raise to at, while the row still
// holds version and an older stamp: a raise whose transaction committed
// long after it was written is then read by the polls of other instances,
// which look back only a few seconds.
func (r *TokenVersions) Restamp(ctx context.Context, kind string, subjectID, version int64, at time.Time) error {
	return dbError(conn(ctx, r.db).Exec("UPDATE token_versions SET changed_at = ? WHERE kind = ? AND subject_id = ? AND version = ? AND changed_at < ?",
		at, kind, subjectID, version, at).Error, nil)
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

// ChangedSince lists the versions raised at or after since, and those whose
// grace ends at or after since (an instance that starts during a long grace
// must learn when it ends). Each condition reads its own index.
func (r *TokenVersions) ChangedSince(ctx context.Context, since time.Time) ([]model.TokenVersion, error) {
	var rows, graced []model.TokenVersion
	if err := conn(ctx, r.db).Where("changed_at >= ?", since).Find(&rows).Error; err != nil {
		return nil, dbError(err, nil)
	}
	if err := conn(ctx, r.db).Where("grace_until >= ? AND changed_at < ?", since, since).Find(&graced).Error; err != nil {
		return nil, dbError(err, nil)
	}
	return append(rows, graced...), nil
}
