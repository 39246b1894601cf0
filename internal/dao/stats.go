package dao

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/model"
)

// Stats aggregates conversations for statistics. Every query goes through
// ScopeConversations (and ScopeUsers for the list of reps), and sums in SQL
// with functions both dialects share (COUNT, SUM, COALESCE); only the period
// of TrackerHitsByPeriod is worked out per dialect.
type Stats struct{ db *gorm.DB }

// NewStats works on db.
func NewStats(db *gorm.DB) *Stats { return &Stats{db: db} }

// TenantTimezone is the tenant's IANA time zone name.
func (r *Stats) TenantTimezone(ctx context.Context, tenantID int64) (string, error) {
	t, err := NewTenants(r.db).ByID(ctx, tenantID)
	if err != nil {
		return "", err
	}
	return t.Timezone, nil
}

// DepartmentPath is the path of one of the tenant's departments.
func (r *Stats) DepartmentPath(ctx context.Context, tenantID, departmentID int64) (string, error) {
	d, err := NewDepartments(r.db).ByID(ctx, tenantID, departmentID)
	if err != nil {
		return "", err
	}
	return d.Path, nil
}

// trackerHits is a tracker's hits (h) joined to their conversations (c) in
// scope that began in [from, to).
func (r *Stats) trackerHits(ctx context.Context, s model.Scope, trackerID int64, from, to time.Time) *gorm.DB {
	q := conn(ctx, r.db).Table("tracker_hits AS h").Joins("JOIN conversations AS c ON c.id = h.conversation_id")
	return ScopeConversations(q, s).
		Where("h.tenant_id = ? AND h.tracker_id = ?", s.TenantID, trackerID).
		Where("c.begin_time >= ? AND c.begin_time < ?", from.UTC(), to.UTC())
}

// TrackerHitsByOwner counts a tracker's hits per owner.
func (r *Stats) TrackerHitsByOwner(ctx context.Context, s model.Scope, trackerID int64, from, to time.Time) ([]model.TrackerOwnerHits, error) {
	var out []model.TrackerOwnerHits
	err := r.trackerHits(ctx, s, trackerID, from, to).
		Joins("LEFT JOIN users AS u ON u.id = c.owner_user_id").
		Select("c.owner_user_id AS owner_user_id, COALESCE(u.name, '') AS owner_name, " +
			"COUNT(*) AS hits, COUNT(DISTINCT h.conversation_id) AS conversations").
		Group("c.owner_user_id, u.name").Scan(&out).Error
	return out, dbError(err, nil)
}

// TrackerHitsByPeriod counts a tracker's hits, and the conversations with
// one, per period of length period (whole seconds dividing a day) in which
// the conversations began, periods aligned on the Unix epoch: one row per
// period with a hit, however many conversations it holds. A conversation
// lies in one period, so the conversations of periods add up.
//
// Both dialects count the whole seconds from the start of the period that
// holds from, which no conversation in range precedes (so the integer
// division is a floor): DATETIME arithmetic on MySQL, which the session
// time zone does not enter, and on SQLite strftime, which reads the UTC
// offset begin_time is stored with.
func (r *Stats) TrackerHitsByPeriod(ctx context.Context, s model.Scope, trackerID int64, from, to time.Time, period time.Duration) ([]model.TrackerPeriodHits, error) {
	origin := from.UTC().Truncate(period)
	seconds := int64(period / time.Second)
	slot, originArg := "(CAST(strftime('%s', c.begin_time) AS INTEGER) - ?) / ?", any(origin.Unix())
	if r.db.Name() == "mysql" {
		slot, originArg = "TIMESTAMPDIFF(SECOND, ?, c.begin_time) DIV ?", origin
	}
	var rows []struct{ Slot, Hits, Conversations int64 }
	err := r.trackerHits(ctx, s, trackerID, from, to).
		Select(slot+" AS slot, COUNT(*) AS hits, COUNT(DISTINCT h.conversation_id) AS conversations", originArg, seconds).
		Group("slot").Scan(&rows).Error
	if err != nil {
		return nil, dbError(err, nil)
	}
	out := make([]model.TrackerPeriodHits, 0, len(rows))
	for _, p := range rows {
		out = append(out, model.TrackerPeriodHits{Start: origin.Add(time.Duration(p.Slot) * period), Hits: p.Hits, Conversations: p.Conversations})
	}
	return out, nil
}

// reps is the users of role rep in scope (u), within the department subtree
// at departmentPath unless it is empty.
func (r *Stats) reps(ctx context.Context, s model.Scope, departmentPath string) *gorm.DB {
	db := conn(ctx, r.db)
	q := ScopeUsers(db.Table("users AS u"), s).Where("u.role = ?", model.RoleRep)
	if departmentPath != "" {
		q = q.Where("u.department_id IN (?)", db.Session(&gorm.Session{NewDB: true}).Table("departments AS rd").
			Select("rd.id").Where("rd.tenant_id = ? AND rd.path LIKE ?", s.TenantID, likePrefix(departmentPath)))
	}
	return q
}

// Reps lists the reps in scope by id.
func (r *Stats) Reps(ctx context.Context, s model.Scope, departmentPath string) ([]model.User, error) {
	var out []model.User
	err := r.reps(ctx, s, departmentPath).Select("u.*").Order("u.id").Find(&out).Error
	return out, dbError(err, nil)
}

// RepAggregates sums the conversations of the reps in scope per owner. A
// conversation without metrics (no transcript yet) counts in conversations
// and duration_ms only: SUM and COUNT(m.…) skip the NULLs of the outer join.
func (r *Stats) RepAggregates(ctx context.Context, s model.Scope, departmentPath string, from, to time.Time) ([]model.RepAggregate, error) {
	var out []model.RepAggregate
	q := ScopeConversations(conn(ctx, r.db).Table("conversations AS c"), s).
		Joins("LEFT JOIN conversation_metrics AS m ON m.conversation_id = c.id").
		Where("c.begin_time >= ? AND c.begin_time < ?", from.UTC(), to.UTC()).
		Where("c.owner_user_id IN (?)", r.reps(ctx, s, departmentPath).Select("u.id"))
	err := q.Select("c.owner_user_id AS owner_user_id, COUNT(*) AS conversations, " +
		"COALESCE(SUM(c.duration_ms), 0) AS duration_ms, COUNT(m.conversation_id) AS measured, " +
		"COALESCE(SUM(m.talk_ratio), 0) AS talk_ratio, " +
		"COALESCE(SUM(m.longest_monologue_ms), 0) AS longest_monologue_ms, " +
		"COALESCE(SUM(m.longest_customer_story_ms), 0) AS longest_customer_story_ms, " +
		"COALESCE(SUM(m.interactivity), 0) AS interactivity, " +
		"COALESCE(SUM(m.patience_ms), 0) AS patience_ms, " +
		"COALESCE(SUM(m.question_count_internal), 0) AS question_count_internal, " +
		"COALESCE(SUM(m.question_count_external), 0) AS question_count_external, " +
		"COALESCE(SUM(m.question_rate), 0) AS question_rate, " +
		"COALESCE(SUM(m.silence_ms), 0) AS silence_ms").
		Group("c.owner_user_id").Scan(&out).Error
	return out, dbError(err, nil)
}
