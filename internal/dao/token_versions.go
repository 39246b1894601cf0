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

// bump raises the row and gives it the next revision, in the transaction
// ctx carries or in one of its own: the sequence row stays locked until the
// raise commits (nextRevision). The sequence is taken first: every writer
// of token_versions holds it while it writes, so none waits for another's
// row (or, on MySQL, gap) while holding the sequence.
func (r *TokenVersions) bump(ctx context.Context, kind string, tenantID, subjectID int64, reason string, at time.Time, until *time.Time) (*model.TokenVersion, error) {
	var out *model.TokenVersion
	err := inTx(ctx, r.db, func(tx *gorm.DB) error {
		rev, err := nextRevision(tx)
		if err != nil {
			return err
		}
		row := model.TokenVersion{Kind: kind, SubjectID: subjectID, TenantID: tenantID, Version: 1, Reason: reason, ChangedAt: at, GraceUntil: until, Revision: rev}
		grace := any(0)
		if until != nil {
			grace = gorm.Expr("version")
		}
		// grace_version is assigned before version, so it reads the old one.
		err = tx.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "kind"}, {Name: "subject_id"}},
			DoUpdates: clause.Set{
				{Column: clause.Column{Name: "grace_version"}, Value: grace},
				{Column: clause.Column{Name: "version"}, Value: gorm.Expr("version + 1")},
				{Column: clause.Column{Name: "grace_until"}, Value: until},
				{Column: clause.Column{Name: "reason"}, Value: reason},
				{Column: clause.Column{Name: "changed_at"}, Value: at},
				{Column: clause.Column{Name: "revision"}, Value: rev},
			},
		}).Create(&row).Error
		if err != nil {
			return err
		}
		out, err = current(tx, kind, subjectID)
		return err
	})
	return out, dbError(err, nil)
}

// nextRevision raises the revision sequence by one (creating its row) and
// returns the new value. The raise locks the row until the transaction of
// db ends, so the next raise, on any instance, takes its revision only
// once this one has committed or rolled back: revisions become visible in
// the order they are handed out, and a reader that sees revision N sees
// every revision below it that committed. db must be a transaction.
func nextRevision(db *gorm.DB) (int64, error) {
	upsert := "INSERT INTO token_version_seq (id, last_revision) VALUES (1, 1) " +
		"ON DUPLICATE KEY UPDATE last_revision = last_revision + 1"
	if db.Name() != "mysql" {
		upsert = "INSERT INTO token_version_seq (id, last_revision) VALUES (1, 1) " +
			"ON CONFLICT (id) DO UPDATE SET last_revision = last_revision + 1"
	}
	if err := db.Exec(upsert).Error; err != nil {
		return 0, err
	}
	var rev int64
	err := db.Raw("SELECT last_revision FROM token_version_seq WHERE id = 1").Row().Scan(&rev)
	return rev, err
}

// Revision is the newest revision committed: every raise up to it is
// readable, and a raise not committed yet takes a higher one.
func (r *TokenVersions) Revision(ctx context.Context) (int64, error) {
	var revs []int64
	if err := conn(ctx, r.db).Raw("SELECT last_revision FROM token_version_seq WHERE id = 1").Scan(&revs).Error; err != nil || len(revs) == 0 {
		return 0, dbError(err, nil)
	}
	return revs[0], nil
}

// RaisedAfter lists at most limit rows whose last raise has a revision
// above revision, by revision.
func (r *TokenVersions) RaisedAfter(ctx context.Context, revision int64, limit int) ([]model.TokenVersion, error) {
	var rows []model.TokenVersion
	if err := conn(ctx, r.db).Where("revision > ?", revision).Order("revision").Limit(limit).Find(&rows).Error; err != nil {
		return nil, dbError(err, nil)
	}
	return rows, nil
}

// Current is the token version of a user or an app: a zero version when
// it was never raised.
func (r *TokenVersions) Current(ctx context.Context, kind string, subjectID int64) (*model.TokenVersion, error) {
	v, err := current(conn(ctx, r.db), kind, subjectID)
	return v, dbError(err, nil)
}

func current(db *gorm.DB, kind string, subjectID int64) (*model.TokenVersion, error) {
	var rows []model.TokenVersion
	if err := db.Where("kind = ? AND subject_id = ?", kind, subjectID).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return &model.TokenVersion{Kind: kind, SubjectID: subjectID}, nil
	}
	return &rows[0], nil
}

// ChangedSince lists the versions raised at or after since, by the clock
// of the instance that raised them, and those whose grace ends at or after
// since (an instance that starts during a long grace must learn when it
// ends). Each condition reads its own index.
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
