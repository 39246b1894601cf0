package stats

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/model"
)

func TestRepStatsMath(t *testing.T) {
	reps := []model.User{{ID: 1, Name: "r1"}, {ID: 2, Name: "r2"}, {ID: 3, Name: "r3"}}
	// r1: three conversations of 60, 120 and 30 s; two have metrics:
	//   talk_ratio 0.5 and 0.7, longest monologue 10 s and 20 s, patience
	//   400 and 600 ms, 3 and 1 internal questions, question_rate 2 and 4/h,
	//   silence 1 s and 3 s.
	// r2: one conversation of 90 s with metrics: talk_ratio 0.2, monologue
	//   5 s, patience 100 ms, 0 questions, question_rate 9/h, silence 0.
	// r3: none. The row of user 9 (not a listed rep) is ignored.
	aggs := []model.RepAggregate{
		{OwnerUserID: 9, Conversations: 5, DurationMS: 1, Measured: 5, MetricValues: model.MetricValues{TalkRatio: 5}},
		{OwnerUserID: 2, Conversations: 1, DurationMS: 90_000, Measured: 1, MetricValues: model.MetricValues{
			TalkRatio: 0.2, LongestMonologueMS: 5_000, PatienceMS: 100, QuestionRate: 9}},
		{OwnerUserID: 1, Conversations: 3, DurationMS: 210_000, Measured: 2, MetricValues: model.MetricValues{
			TalkRatio: 1.2, LongestMonologueMS: 30_000, PatienceMS: 1_000,
			QuestionCountInternal: 4, QuestionRate: 6, SilenceMS: 4_000}},
	}
	got := repStats(reps, aggs)

	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if len(got.Reps) != 3 || got.Reps[0].User.ID != 1 || got.Reps[2].User.ID != 3 {
		t.Fatalf("reps: %+v", got.Reps)
	}
	r1, r2, r3 := got.Reps[0], got.Reps[1], got.Reps[2]
	if r1.ConversationCount != 3 || r1.TotalDurationMS != 210_000 || r1.MeasuredCount != 2 {
		t.Errorf("r1 counts: %+v", r1)
	}
	near("r1 talk_ratio", r1.Mean.TalkRatio, 0.6)
	near("r1 longest_monologue_ms", r1.Mean.LongestMonologueMS, 15_000)
	near("r1 patience_ms", r1.Mean.PatienceMS, 500)
	near("r1 question_count_internal", r1.Mean.QuestionCountInternal, 2)
	near("r1 question_rate", r1.Mean.QuestionRate, 3)
	near("r1 silence_ms", r1.Mean.SilenceMS, 2_000)
	near("r2 talk_ratio", r2.Mean.TalkRatio, 0.2)
	near("r2 question_rate", r2.Mean.QuestionRate, 9)
	if r3.ConversationCount != 0 || r3.Mean != (MetricsMean{}) {
		t.Errorf("r3 without conversations: %+v", r3)
	}

	team := got.Team
	if team.RepCount != 3 || team.ConversationCount != 4 || team.TotalDurationMS != 300_000 || team.MeasuredCount != 3 {
		t.Errorf("team counts: %+v", team)
	}
	// Each measured conversation weighs the same: (0.5+0.7+0.2)/3, not the
	// mean of the rep means (0.6+0.2)/2 = 0.4.
	near("team talk_ratio", team.Mean.TalkRatio, 1.4/3)
	near("team longest_monologue_ms", team.Mean.LongestMonologueMS, 35_000.0/3)
	near("team patience_ms", team.Mean.PatienceMS, 1_100.0/3)
	near("team question_rate", team.Mean.QuestionRate, 5)
	near("team silence_ms", team.Mean.SilenceMS, 4_000.0/3)

	if empty := repStats(nil, nil); len(empty.Reps) != 0 || empty.Team != (TeamStats{}) {
		t.Errorf("no reps: %+v", empty)
	}
}

func TestDayBucketsInTenantZone(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no tz data:", err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	from := utc("2026-02-27T00:00:00Z")
	rows := []model.TrackerPeriodHits{
		{Start: utc("2026-03-01T15:45:00Z"), Hits: 2, Conversations: 1}, // 23:45 on 03-01 in Shanghai
		{Start: utc("2026-03-01T16:00:00Z"), Hits: 3, Conversations: 1}, // 00:00 on 03-02
		{Start: utc("2026-03-02T01:00:00Z"), Hits: 1, Conversations: 1}, // 09:00 on 03-02
		{Start: utc("2026-02-28T20:00:00Z"), Hits: 4, Conversations: 1}, // 04:00 on 03-01
		{Start: utc("2026-02-27T20:00:00Z"), Hits: 0},
	}
	got := dayBuckets(rows, from, shanghai)
	want := []TrackerStatsBucket{
		{Key: "2026-03-01", Label: "2026-03-01", Hits: 6, Conversations: 2},
		{Key: "2026-03-02", Label: "2026-03-02", Hits: 4, Conversations: 2},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Shanghai: got %+v\nwant %+v", got, want)
	}
	// The same rows by UTC days.
	got = dayBuckets(rows, from, time.UTC)
	want = []TrackerStatsBucket{
		{Key: "2026-02-28", Label: "2026-02-28", Hits: 4, Conversations: 1},
		{Key: "2026-03-01", Label: "2026-03-01", Hits: 5, Conversations: 2},
		{Key: "2026-03-02", Label: "2026-03-02", Hits: 1, Conversations: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("UTC: got %+v\nwant %+v", got, want)
	}
	// A period that starts before the range counts on the day of the
	// range's start, where its conversations are.
	got = dayBuckets([]model.TrackerPeriodHits{{Start: utc("2026-02-28T15:45:00Z"), Hits: 1, Conversations: 1}}, utc("2026-02-28T16:00:00Z"), shanghai)
	if want := []TrackerStatsBucket{{Key: "2026-03-01", Label: "2026-03-01", Hits: 1, Conversations: 1}}; !slices.Equal(got, want) {
		t.Errorf("period before the range: got %+v, want %+v", got, want)
	}
	if loc := tenantLocation("Not/AZone"); loc != time.UTC {
		t.Errorf("unknown zone: %v", loc)
	}
}

// Every instant of a range lies on the local day of the period of
// dayPeriod that holds it (from the range's start on), around every local
// midnight and change of offset: a quarter hour in the zones of today,
// shorter for offsets that were not whole quarter hours.
func TestDayPeriod(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		zone     string
		from, to string
		want     time.Duration
	}{
		{"UTC", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", 15 * time.Minute},
		{"America/New_York", "2026-01-01T00:07:30Z", "2027-01-01T00:00:00Z", 15 * time.Minute},
		{"Asia/Kathmandu", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", 15 * time.Minute},
		{"Pacific/Chatham", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", 15 * time.Minute},
		{"Australia/Lord_Howe", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", 15 * time.Minute},
		{"Pacific/Kiritimati", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", 15 * time.Minute},
		{"Pacific/Kiritimati", "1994-06-01T00:00:00Z", "1995-06-01T00:00:00Z", 15 * time.Minute}, // skips 1994-12-31
		{"Pacific/Kiritimati", "1979-01-01T00:00:00Z", "1980-01-01T00:00:00Z", 5 * time.Minute},  // -10:40 until October
		{"Africa/Monrovia", "1971-06-01T00:00:00Z", "1972-06-01T00:00:00Z", 30 * time.Second},    // -00:44:30
		{"America/New_York", "1883-06-01T00:00:00Z", "1884-06-01T00:00:00Z", 2 * time.Second},    // -04:56:02
	} {
		loc, err := time.LoadLocation(c.zone)
		if err != nil {
			t.Skip("no tz data:", err)
		}
		from, to := at(c.from), at(c.to)
		p := dayPeriod(loc, from, to)
		if p != c.want {
			t.Errorf("%s from %s: period %v, want %v", c.zone, c.from, p, c.want)
		}
		var instants []time.Time
		for d := from.In(loc); d.Before(to); d = d.AddDate(0, 0, 1) {
			y, m, day := d.Date()
			midnight := time.Date(y, m, day, 0, 0, 0, 0, loc)
			instants = append(instants, midnight.Add(-time.Nanosecond), midnight, midnight.Add(time.Millisecond))
		}
		for x := from.In(loc); ; {
			_, end := x.ZoneBounds()
			if end.IsZero() || !end.Before(to) {
				break
			}
			instants = append(instants, end.Add(-time.Nanosecond), end)
			x = end
		}
		for x := from; x.Before(to); x = x.Add(7*time.Minute + 13*time.Second + 1) {
			instants = append(instants, x)
		}
		for _, x := range instants {
			if x.Before(from) || !x.Before(to) {
				continue
			}
			start := x.UTC().Truncate(p)
			rows := []model.TrackerPeriodHits{{Start: start, Hits: 1, Conversations: 1}}
			if got, want := dayBuckets(rows, from, loc)[0].Key, x.In(loc).Format(time.DateOnly); got != want {
				t.Errorf("%s: %s in the period from %s counts on %s, want %s", c.zone, x.UTC().Format(time.RFC3339Nano), start.Format(time.RFC3339), got, want)
			}
		}
	}
}

func TestOwnerBucketsOrder(t *testing.T) {
	got := ownerBuckets([]model.TrackerOwnerHits{
		{OwnerUserID: 9, OwnerName: "nine", Hits: 5, Conversations: 2},
		{OwnerUserID: 10, OwnerName: "ten", Hits: 5, Conversations: 1},
		{OwnerUserID: 3, OwnerName: "three", Hits: 7, Conversations: 7},
	})
	var keys []string
	for _, b := range got {
		keys = append(keys, b.Key+":"+b.Label)
	}
	// Most hits first; ties by key ascending ("10" < "9" as strings).
	if want := []string{"3:three", "10:ten", "9:nine"}; !slices.Equal(keys, want) {
		t.Errorf("got %q, want %q", keys, want)
	}
}
