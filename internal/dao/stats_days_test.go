package dao_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/stats"
	"github.com/megaview/mgvcore/internal/logic/tracker"
	"github.com/megaview/mgvcore/internal/model"
)

// dayStatsEnv is an org whose conversations and tracker hits are written
// straight to the tables, so a test can place thousands of them.
type dayStatsEnv struct {
	*org
	tracker int64
	n       int
}

func newDayStatsEnv(t *testing.T, db *gorm.DB) *dayStatsEnv {
	t.Helper()
	o := newOrgOn(t, db)
	tr, err := tracker.NewTrackers(dao.NewTrackers(db), nil).Create(o.as(o.admin), tracker.Input{Name: "p", Keywords: []string{"price"}})
	if err != nil {
		t.Fatal(err)
	}
	return &dayStatsEnv{org: o, tracker: tr.ID}
}

// place stores one conversation of owner per begin time, each with hits
// tracker hits.
func (e *dayStatsEnv) place(t *testing.T, owner model.User, hits int, begins ...time.Time) {
	t.Helper()
	now := time.Now().UTC()
	convs := make([]model.Conversation, 0, len(begins))
	for _, b := range begins {
		e.n++
		convs = append(convs, model.Conversation{
			TenantID: owner.TenantID, OriginConversationID: fmt.Sprintf("c%d", e.n), OwnerUserID: owner.ID,
			Channel: model.ChannelCall, Direction: model.DirectionOutbound, BeginTime: b.UTC(), Status: model.StatusReady,
			CreatedAt: now, UpdatedAt: now,
		})
	}
	if err := e.db.CreateInBatches(&convs, 500).Error; err != nil {
		t.Fatal(err)
	}
	var rows []model.TrackerHit
	for _, c := range convs {
		for i := range hits {
			rows = append(rows, model.TrackerHit{TenantID: c.TenantID, TrackerID: e.tracker, ConversationID: c.ID,
				Seq: i, StartMS: int64(i) * 1000, SpeakerKey: "rep", Phrase: "price"})
		}
	}
	if err := e.db.CreateInBatches(&rows, 500).Error; err != nil {
		t.Fatal(err)
	}
}

// bruteDays groups the tracker's hits one conversation at a time by the
// calendar day of its begin_time in loc, among the conversations of owners
// that began in [from, to).
func (e *dayStatsEnv) bruteDays(t *testing.T, loc *time.Location, from, to time.Time, owners ...model.User) []stats.TrackerStatsBucket {
	t.Helper()
	var convs []model.Conversation
	if err := e.db.Where("tenant_id = ?", e.tenant).Find(&convs).Error; err != nil {
		t.Fatal(err)
	}
	var hits []model.TrackerHit
	if err := e.db.Where("tracker_id = ?", e.tracker).Find(&hits).Error; err != nil {
		t.Fatal(err)
	}
	perConv := map[int64]int64{}
	for _, h := range hits {
		perConv[h.ConversationID]++
	}
	byDay := map[string]*stats.TrackerStatsBucket{}
	for _, c := range convs {
		if perConv[c.ID] == 0 || c.BeginTime.Before(from) || !c.BeginTime.Before(to) ||
			!slices.ContainsFunc(owners, func(u model.User) bool { return u.ID == c.OwnerUserID }) {
			continue
		}
		day := c.BeginTime.In(loc).Format(time.DateOnly)
		if byDay[day] == nil {
			byDay[day] = &stats.TrackerStatsBucket{Key: day, Label: day}
		}
		byDay[day].Hits += perConv[c.ID]
		byDay[day].Conversations++
	}
	out := []stats.TrackerStatsBucket{}
	for _, b := range byDay {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b stats.TrackerStatsBucket) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Day buckets equal a grouping of every conversation by its local day, for
// conversations on either side of local midnights and of DST transitions,
// in zones a whole, a 45-minute and a 14-hour offset from UTC, and for a
// tenant whose zone name is unknown (UTC days). A manager sees the days of
// their department's conversations only. On MariaDB the session's time zone
// plays no part.
func TestTrackerStatsDaysMatchPerConversation(t *testing.T) {
	daotest.Each(t, checkDaysMatchPerConversation)
	t.Run("mariadb session zone +05:45", func(t *testing.T) {
		cfg := daotest.ScratchMariaDBConfig(t)
		cfg.Params = map[string]string{"time_zone": "'+05:45'"}
		db := daotest.Connect(t, "mysql", cfg.FormatDSN())
		var zone string
		if err := db.Raw("SELECT @@session.time_zone").Scan(&zone).Error; err != nil || zone != "+05:45" {
			t.Fatalf("session time zone %q: %v", zone, err)
		}
		checkDaysMatchPerConversation(t, db)
	})
}

func checkDaysMatchPerConversation(t *testing.T, db *gorm.DB) {
	e := newDayStatsEnv(t, db)
	zones := []string{"UTC", "America/New_York", "Pacific/Kiritimati", "Asia/Kathmandu", "Pacific/Chatham", "Australia/Lord_Howe"}
	from := time.Date(2026, 2, 20, 0, 7, 30, 0, time.UTC) // not on a 15-minute boundary
	to := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	var begins []time.Time
	for _, name := range zones {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Skip("no tz data:", err)
		}
		for _, d := range []time.Time{
			time.Date(2026, 3, 1, 0, 0, 0, 0, loc), time.Date(2026, 3, 8, 0, 0, 0, 0, loc),
			time.Date(2026, 3, 9, 0, 0, 0, 0, loc), time.Date(2026, 4, 5, 0, 0, 0, 0, loc),
			time.Date(2026, 10, 4, 0, 0, 0, 0, loc), time.Date(2026, 11, 1, 0, 0, 0, 0, loc),
			time.Date(2026, 11, 2, 0, 0, 0, 0, loc),
		} {
			begins = append(begins, d.Add(-time.Millisecond), d, d.Add(time.Millisecond), d.Add(15*time.Minute-time.Millisecond))
		}
	}
	// New York's DST transitions, and the ends of the range.
	for _, d := range []time.Time{
		time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC), from, to,
	} {
		begins = append(begins, d.Add(-time.Millisecond), d, d.Add(time.Millisecond))
	}
	rep1, rep3, rep4 := e.reps[0], e.reps[2], e.reps[3]
	e.place(t, rep1, 1, begins...)
	var every3rd, odd []time.Time
	for i, b := range begins {
		if i%3 == 0 {
			every3rd = append(every3rd, b)
		}
		if i%2 == 1 {
			odd = append(odd, b)
		}
	}
	e.place(t, rep3, 2, every3rd...)
	e.place(t, rep4, 3, odd...)

	st := stats.NewStats(dao.NewStats(db), dao.NewTrackers(db))
	for _, name := range append(zones, "Not/AZone") {
		if err := db.Model(&model.Tenant{}).Where("id = ?", e.tenant).Update("timezone", name).Error; err != nil {
			t.Fatal(err)
		}
		loc, err := time.LoadLocation(name)
		if err != nil {
			loc = time.UTC
		}
		for _, as := range []struct {
			who    model.User
			owners []model.User
		}{{e.admin, e.reps}, {e.manager, e.reps[:3]}} {
			got, err := st.TrackerStats(e.as(as.who), stats.TrackerStatsRequest{TrackerID: e.tracker, GroupBy: stats.GroupByDay, From: from, To: to})
			if err != nil {
				t.Fatal(err)
			}
			if want := e.bruteDays(t, loc, from, to, as.owners...); !slices.Equal(got.Buckets, want) {
				t.Errorf("%s as %s:\n got %+v\nwant %+v", name, as.who.Name, got.Buckets, want)
			}
		}
	}
}

// rowCounter records how many rows each statement returned.
type rowCounter struct {
	logger.Interface
	rows []int64
}

func (c *rowCounter) LogMode(logger.LogLevel) logger.Interface { return c }

func (c *rowCounter) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	_, n := fc()
	c.rows = append(c.rows, n)
}

// The statistic by day reads one row per stretch of time with a hit, not
// one per conversation: 3,000 conversations in one quarter hour come back
// as one row.
func TestTrackerStatsDaysReadBoundedRows(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := newDayStatsEnv(t, db)
		start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		begins := make([]time.Time, 3000)
		for i := range begins {
			begins[i] = start.Add(time.Duration(i) * 299 * time.Millisecond) // within 15 minutes
		}
		e.place(t, e.reps[0], 2, begins...)

		counter := &rowCounter{Interface: logger.Discard}
		counted := db.Session(&gorm.Session{Logger: counter})
		st := stats.NewStats(dao.NewStats(counted), dao.NewTrackers(db))
		got, err := st.TrackerStats(e.as(e.admin), stats.TrackerStatsRequest{TrackerID: e.tracker, GroupBy: stats.GroupByDay,
			From: start.Add(-24 * time.Hour), To: start.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		want := []stats.TrackerStatsBucket{{Key: "2026-03-01", Label: "2026-03-01", Hits: 6000, Conversations: 3000}}
		if !slices.Equal(got.Buckets, want) {
			t.Errorf("got %+v, want %+v", got.Buckets, want)
		}
		if len(counter.rows) == 0 || slices.Max(counter.rows) > 1 {
			t.Errorf("rows read per statement: %v, want at most 1 each", counter.rows)
		}
	})
}
