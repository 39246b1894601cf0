package dao

import (
	"context"
	"slices"
	"strconv"
	"strings"
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
// row (or, on MySQL, gap) while holding the sequence. A transaction of its
// own that MySQL picks as a deadlock victim all the same is run again.
func (r *TokenVersions) bump(ctx context.Context, kind string, tenantID, subjectID int64, reason string, at time.Time, until *time.Time) (*model.TokenVersion, error) {
	var out *model.TokenVersion
	err := inTxRetrying(ctx, r.db, func(tx *gorm.DB) error {
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

// BumpMany raises the token versions of subjectIDs (of kind, in tenantID)
// by one each, as Bump does, and returns the rows raised: every one under
// the same, single revision, which the raise takes once. Duplicate ids are
// raised once. While the revision sequence is held, the raise is one
// statement (one per bumpManyRows subjects beyond that) and a read of the
// versions it wrote, so the raise of another subject, in any tenant, waits
// for that rather than for one raise per subject. A caller with work to do
// in the transaction (revoking refresh tokens) does it before: the
// sequence is then held from the raise to the commit only.
func (r *TokenVersions) BumpMany(ctx context.Context, kind string, tenantID int64, subjectIDs []int64, reason string, at time.Time) ([]model.TokenVersion, error) {
	ids := slices.Clone(subjectIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	var out []model.TokenVersion
	err := inTxRetrying(ctx, r.db, func(tx *gorm.DB) error {
		// The sequence first, as in bump.
		rev, err := nextRevision(tx)
		if err != nil {
			return err
		}
		for chunk := range slices.Chunk(ids, bumpManyRows) {
			query, args := bumpManySQL(tx.Name(), kind, tenantID, chunk, reason, at, rev)
			if err := tx.Exec(query, args...).Error; err != nil {
				return err
			}
		}
		out, err = raisedAt(tx, rev, kind, tenantID, reason, at)
		return err
	})
	return out, dbError(err, nil)
}

// raisedAt reads back the rows BumpMany raised at revision rev: exactly
// those of the revision, since a raise takes a revision of its own. Only
// what differs between them is read; the rest is what the raise wrote.
func raisedAt(tx *gorm.DB, rev int64, kind string, tenantID int64, reason string, at time.Time) ([]model.TokenVersion, error) {
	rows, err := tx.Raw("SELECT id, subject_id, version FROM token_versions WHERE revision = ? ORDER BY id", rev).Rows()
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []model.TokenVersion
	for rows.Next() {
		v := model.TokenVersion{Kind: kind, TenantID: tenantID, Reason: reason, ChangedAt: at, Revision: rev}
		if err := rows.Scan(&v.ID, &v.SubjectID, &v.Version); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// bumpManyRows bounds the rows of one raising statement: three parameters
// a row stay below SQLite's 32766 and a server-side prepared statement's
// 65535, and the statement (some 70 bytes a row) far below MySQL's
// max_allowed_packet.
const bumpManyRows = 10000

// bumpManySQL is the statement raising ids, as bump raises one: a row at
// version 1 for an id that has none, else version + 1 with the grace
// ended; reason, at and rev either way. Ids, the tenant and the revision
// are integers written into the text; kind, reason and at are parameters.
func bumpManySQL(dialect, kind string, tenantID int64, ids []int64, reason string, at time.Time, rev int64) (string, []any) {
	var b strings.Builder
	b.WriteString("INSERT INTO token_versions (kind, subject_id, tenant_id, version, grace_version, grace_until, reason, changed_at, revision) VALUES ")
	args := make([]any, 0, 3*len(ids))
	tail := ", " + strconv.FormatInt(tenantID, 10) + ", 1, 0, NULL, ?, ?, " + strconv.FormatInt(rev, 10) + ")"
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ")
		b.WriteString(strconv.FormatInt(id, 10))
		b.WriteString(tail)
		args = append(args, kind, reason, at)
	}
	if dialect == "mysql" {
		b.WriteString(" ON DUPLICATE KEY UPDATE")
	} else {
		b.WriteString(" ON CONFLICT (kind, subject_id) DO UPDATE SET")
	}
	b.WriteString(" grace_version = 0, version = version + 1, grace_until = NULL, reason = ?, changed_at = ?, revision = " + strconv.FormatInt(rev, 10))
	return b.String(), append(args, reason, at)
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

// RaisedAfter lists at most limit rows whose last raise comes after the
// row afterID of revision: a revision above revision, or the same one and
// a row id above afterID; by revision, then row id. A raise of many rows
// (BumpMany) gives them one revision, so a read that stopped within them
// resumes at the row after the last it read; afterID math.MaxInt64 skips
// every row of revision.
func (r *TokenVersions) RaisedAfter(ctx context.Context, revision, afterID int64, limit int) ([]model.TokenVersion, error) {
	var rows []model.TokenVersion
	// revision >= ? alone bounds the range read on the revision index
	// (whose entries end with the row id, in order).
	if err := conn(ctx, r.db).Where("revision >= ? AND (revision > ? OR id > ?)", revision, revision, afterID).
		Order("revision").Order("id").Limit(limit).Find(&rows).Error; err != nil {
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

// Now is the database's clock, in the millisecond of changed_at: raises
// are stamped with it and the first read of an instance reaches back by
// it, so that how far apart the instances' clocks are does not matter.
// MySQL answers its own (as milliseconds since the epoch, whatever the
// session's time zone or the DSN's parseTime); the embedded SQLite
// database is this machine's, whose clock is this process's.
func (r *TokenVersions) Now(ctx context.Context) (time.Time, error) {
	db := conn(ctx, r.db)
	if db.Name() != "mysql" {
		return dbNow(), nil
	}
	var ms int64
	// UTC_TIMESTAMP, not NOW(): UNIX_TIMESTAMP of a local time is an
	// hour off in the hour a daylight-saving zone repeats.
	if err := db.Raw("SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000").Row().Scan(&ms); err != nil {
		return time.Time{}, dbError(err, nil)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// ChangedSince lists the versions raised at or after since, by the clock
// that stamped them (the database's, Now; an instance's own for a release
// before this one), and those whose grace ends at or after
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
