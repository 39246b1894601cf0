package stats

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// Groupings of tracker statistics.
const (
	GroupByOwner = "owner"
	GroupByDay   = "day"
)

// Repo aggregates conversations; every query applies the caller's
// data scope.
type Repo interface {
	// TenantTimezone is the IANA time zone of the tenant.
	TenantTimezone(ctx context.Context, tenantID int64) (string, error)
	// TrackerHitsByOwner counts a tracker's hits per owner of the
	// conversations in scope that began in [from, to).
	TrackerHitsByOwner(ctx context.Context, s model.Scope, trackerID int64, from, to time.Time) ([]model.TrackerOwnerHits, error)
	// TrackerHitsByPeriod counts them, and the conversations with one,
	// per period of length period (whole seconds dividing a day, periods
	// aligned on the Unix epoch) in which the conversations began.
	TrackerHitsByPeriod(ctx context.Context, s model.Scope, trackerID int64, from, to time.Time, period time.Duration) ([]model.TrackerPeriodHits, error)
	// DepartmentPath is the path of a department of the tenant;
	// DEPARTMENT_NOT_FOUND otherwise.
	DepartmentPath(ctx context.Context, tenantID, departmentID int64) (string, error)
	// Reps lists the users of role rep in scope, in the department subtree
	// at departmentPath when it is not empty, ordered by id.
	Reps(ctx context.Context, s model.Scope, departmentPath string) ([]model.User, error)
	// RepAggregates sums, per owner among those reps, the conversations in
	// scope that began in [from, to).
	RepAggregates(ctx context.Context, s model.Scope, departmentPath string, from, to time.Time) ([]model.RepAggregate, error)
}

// TrackerLookup finds a tracker of the tenant; TRACKER_NOT_FOUND otherwise.
type TrackerLookup interface {
	GetTracker(ctx context.Context, tenantID, id int64) (*model.Tracker, error)
}

// Stats are the statistics use cases.
type Stats struct {
	repo     Repo
	trackers TrackerLookup
}

// NewStats aggregates through repo; trackers resolves tracker ids.
func NewStats(repo Repo, trackers TrackerLookup) *Stats {
	return &Stats{repo: repo, trackers: trackers}
}

// TrackerStatsRequest asks for a tracker's hits grouped by owner or day.
type TrackerStatsRequest struct {
	TrackerID int64
	GroupBy   string
	From, To  time.Time
	// Unread is the transport's error for a part of the request it could
	// not read (see conversation.ListRequest): TrackerStats returns it once
	// the caller's scope allows the call.
	Unread error
}

// TrackerStatsBucket is the hits of one group.
type TrackerStatsBucket struct {
	Key           string
	Label         string
	Hits          int64
	Conversations int64
}

// TrackerStats is the answer: groups with at least one hit, by owner most
// hits first (ties: key ascending), by day oldest first.
type TrackerStats struct {
	TrackerID int64
	GroupBy   string
	Buckets   []TrackerStatsBucket
}

// TrackerStats counts a tracker's hits in the caller's conversations. The
// caller's scope is checked before any argument, so a caller without it
// learns nothing about the request.
func (st *Stats) TrackerStats(ctx context.Context, req TrackerStatsRequest) (TrackerStats, error) {
	s, err := access.Require(ctx, access.Read)
	if err != nil {
		return TrackerStats{}, err
	}
	if req.Unread != nil {
		return TrackerStats{}, req.Unread
	}
	if err := access.CheckID("tracker_id", req.TrackerID); err != nil {
		return TrackerStats{}, err
	}
	if req.GroupBy != GroupByOwner && req.GroupBy != GroupByDay {
		return TrackerStats{}, errs.InvalidArgument("group_by", "must be owner or day (got %q)", req.GroupBy)
	}
	if err := access.CheckRange(req.From, req.To); err != nil {
		return TrackerStats{}, err
	}
	if _, err := st.trackers.GetTracker(ctx, s.TenantID, req.TrackerID); err != nil {
		return TrackerStats{}, err
	}
	from, to := req.From.UTC(), req.To.UTC()
	out := TrackerStats{TrackerID: req.TrackerID, GroupBy: req.GroupBy, Buckets: []TrackerStatsBucket{}}
	if req.GroupBy == GroupByOwner {
		rows, err := st.repo.TrackerHitsByOwner(ctx, s, req.TrackerID, from, to)
		if err != nil {
			return TrackerStats{}, err
		}
		out.Buckets = ownerBuckets(rows)
		return out, nil
	}
	tz, err := st.repo.TenantTimezone(ctx, s.TenantID)
	if err != nil {
		return TrackerStats{}, err
	}
	loc := tenantLocation(tz)
	rows, err := st.repo.TrackerHitsByPeriod(ctx, s, req.TrackerID, from, to, dayPeriod(loc, from, to))
	if err != nil {
		return TrackerStats{}, err
	}
	out.Buckets = dayBuckets(rows, from, loc)
	return out, nil
}

func ownerBuckets(rows []model.TrackerOwnerHits) []TrackerStatsBucket {
	out := make([]TrackerStatsBucket, 0, len(rows))
	for _, r := range rows {
		out = append(out, TrackerStatsBucket{
			Key: strconv.FormatInt(r.OwnerUserID, 10), Label: r.OwnerName, Hits: r.Hits, Conversations: r.Conversations,
		})
	}
	slices.SortFunc(out, func(a, b TrackerStatsBucket) int {
		return cmp.Or(cmp.Compare(b.Hits, a.Hits), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// maxDayPeriod is the length of the periods hits are counted in for day
// buckets: every UTC offset in use is a whole number of quarter hours, and
// zones change offset on quarter hours, so each quarter hour lies in one
// local day; a year is at most 35,136 of them.
const maxDayPeriod = 15 * time.Minute

// dayPeriod is the longest period that divides maxDayPeriod (in whole
// seconds) such that, in loc between from and to, every offset from UTC and
// every instant the offset changes is a multiple of it. Every local
// midnight is then one too, so the instants of each period (aligned on the
// Unix epoch) from from onwards share one local day. That is a quarter hour
// except for offsets of the past (local mean time, Liberia's -00:44:30 up
// to 1972, Kiritimati's -10:40 up to 1979).
func dayPeriod(loc *time.Location, from, to time.Time) time.Duration {
	g := int64(maxDayPeriod / time.Second)
	for at := from.In(loc); ; {
		_, offset := at.Zone()
		g = gcd(g, int64(offset))
		_, end := at.ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		g = gcd(g, end.Unix())
		at = end
	}
	return time.Duration(g) * time.Second
}

// gcd is the greatest common divisor of a > 0 and b.
func gcd(a, b int64) int64 {
	if b < 0 {
		b = -b
	}
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// dayBuckets adds up the counts of periods (of dayPeriod(loc, from, …)) by
// the calendar day in loc of their instants from from onwards.
func dayBuckets(rows []model.TrackerPeriodHits, from time.Time, loc *time.Location) []TrackerStatsBucket {
	byDay := map[string]*TrackerStatsBucket{}
	for _, r := range rows {
		if r.Hits == 0 {
			continue
		}
		at := r.Start
		if at.Before(from) {
			at = from
		}
		day := at.In(loc).Format(time.DateOnly)
		b := byDay[day]
		if b == nil {
			b = &TrackerStatsBucket{Key: day, Label: day}
			byDay[day] = b
		}
		b.Hits += r.Hits
		b.Conversations += r.Conversations
	}
	out := make([]TrackerStatsBucket, 0, len(byDay))
	for _, b := range byDay {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b TrackerStatsBucket) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// tenantLocation loads a tenant's time zone, as search counts its days
// (model.TenantLocation): an unknown name falls back to UTC rather than
// failing every statistic of the tenant.
func tenantLocation(name string) *time.Location { return model.TenantLocation(name) }

// RepStatsRequest asks for the statistics of the reps in scope.
type RepStatsRequest struct {
	From, To time.Time
	// DepartmentID narrows to reps in that department's subtree; 0: all.
	DepartmentID int64
	// Unread is the transport's error for a part of the request it could
	// not read: RepStats returns it once the caller's scope allows the call.
	Unread error
}

// MetricsMean is the mean of each interaction metric over a set of
// conversations, each weighing the same; all 0 for an empty set.
type MetricsMean model.MetricValues

// RepStats are one rep's numbers.
type RepStats struct {
	User              model.User
	ConversationCount int64
	TotalDurationMS   int64
	// MeasuredCount is how many of the conversations have metrics (a
	// transcript); the means are over those.
	MeasuredCount int64
	Mean          MetricsMean
}

// TeamStats are the numbers of all listed reps together.
type TeamStats struct {
	RepCount          int64
	ConversationCount int64
	TotalDurationMS   int64
	MeasuredCount     int64
	Mean              MetricsMean
}

// RepStatsResult lists every rep in scope, by user id, and the team.
type RepStatsResult struct {
	Reps []RepStats
	Team TeamStats
}

// RepStats compares the reps in the caller's scope.
func (st *Stats) RepStats(ctx context.Context, req RepStatsRequest) (RepStatsResult, error) {
	s, err := access.Require(ctx, access.Read)
	if err != nil {
		return RepStatsResult{}, err
	}
	if req.Unread != nil {
		return RepStatsResult{}, req.Unread
	}
	if err := access.CheckRange(req.From, req.To); err != nil {
		return RepStatsResult{}, err
	}
	path := ""
	if req.DepartmentID < 0 {
		return RepStatsResult{}, errs.InvalidArgument("department_id", "must be a department id")
	}
	if req.DepartmentID > 0 {
		if path, err = st.repo.DepartmentPath(ctx, s.TenantID, req.DepartmentID); err != nil {
			return RepStatsResult{}, err
		}
	}
	reps, err := st.repo.Reps(ctx, s, path)
	if err != nil {
		return RepStatsResult{}, err
	}
	if !s.Allows(access.ScopeOrg) {
		// The reps are named, not listed: an app's email and phone
		// numbers of the tenant's users come with the org scope (the user
		// list), not with read.
		for i := range reps {
			reps[i].Email, reps[i].Phone = nil, nil
		}
	}
	var aggs []model.RepAggregate
	if len(reps) > 0 {
		if aggs, err = st.repo.RepAggregates(ctx, s, path, req.From.UTC(), req.To.UTC()); err != nil {
			return RepStatsResult{}, err
		}
	}
	return repStats(reps, aggs), nil
}

// repStats turns per-owner sums into per-rep means and the team mean. The
// team mean is the sum over all measured conversations divided by their
// number, so every conversation weighs the same whoever owns it.
func repStats(reps []model.User, aggs []model.RepAggregate) RepStatsResult {
	byOwner := make(map[int64]model.RepAggregate, len(aggs))
	for _, a := range aggs {
		byOwner[a.OwnerUserID] = a
	}
	out := RepStatsResult{Reps: make([]RepStats, 0, len(reps))}
	var team model.RepAggregate
	for _, u := range reps {
		a := byOwner[u.ID]
		out.Reps = append(out.Reps, RepStats{
			User: u, ConversationCount: a.Conversations, TotalDurationMS: a.DurationMS,
			MeasuredCount: a.Measured, Mean: meanOf(a),
		})
		team.Conversations += a.Conversations
		team.DurationMS += a.DurationMS
		team.Measured += a.Measured
		team.TalkRatio += a.TalkRatio
		team.LongestMonologueMS += a.LongestMonologueMS
		team.LongestCustomerStoryMS += a.LongestCustomerStoryMS
		team.Interactivity += a.Interactivity
		team.PatienceMS += a.PatienceMS
		team.QuestionCountInternal += a.QuestionCountInternal
		team.QuestionCountExternal += a.QuestionCountExternal
		team.QuestionRate += a.QuestionRate
		team.SilenceMS += a.SilenceMS
	}
	out.Team = TeamStats{
		RepCount: int64(len(reps)), ConversationCount: team.Conversations, TotalDurationMS: team.DurationMS,
		MeasuredCount: team.Measured, Mean: meanOf(team),
	}
	return out
}

func meanOf(a model.RepAggregate) MetricsMean {
	if a.Measured == 0 {
		return MetricsMean{}
	}
	n := float64(a.Measured)
	return MetricsMean{
		TalkRatio:              a.TalkRatio / n,
		LongestMonologueMS:     a.LongestMonologueMS / n,
		LongestCustomerStoryMS: a.LongestCustomerStoryMS / n,
		Interactivity:          a.Interactivity / n,
		PatienceMS:             a.PatienceMS / n,
		QuestionCountInternal:  a.QuestionCountInternal / n,
		QuestionCountExternal:  a.QuestionCountExternal / n,
		QuestionRate:           a.QuestionRate / n,
		SilenceMS:              a.SilenceMS / n,
	}
}
