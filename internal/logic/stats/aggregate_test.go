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
	rows := []model.TrackerConversationHits{
		{ConversationID: 1, BeginTime: utc("2026-03-01T15:59:59Z"), Hits: 2}, // 23:59:59 on 03-01 in Shanghai
		{ConversationID: 2, BeginTime: utc("2026-03-01T16:00:00Z"), Hits: 3}, // 00:00 on 03-02
		{ConversationID: 3, BeginTime: utc("2026-03-02T01:00:00Z"), Hits: 1}, // 09:00 on 03-02
		{ConversationID: 4, BeginTime: utc("2026-02-28T20:00:00Z"), Hits: 4}, // 04:00 on 03-01
		{ConversationID: 5, BeginTime: utc("2026-02-27T20:00:00Z"), Hits: 0},
	}
	got := dayBuckets(rows, shanghai)
	want := []TrackerStatsBucket{
		{Key: "2026-03-01", Label: "2026-03-01", Hits: 6, Conversations: 2},
		{Key: "2026-03-02", Label: "2026-03-02", Hits: 4, Conversations: 2},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Shanghai: got %+v\nwant %+v", got, want)
	}
	// The same rows by UTC days.
	got = dayBuckets(rows, time.UTC)
	want = []TrackerStatsBucket{
		{Key: "2026-02-28", Label: "2026-02-28", Hits: 4, Conversations: 1},
		{Key: "2026-03-01", Label: "2026-03-01", Hits: 5, Conversations: 2},
		{Key: "2026-03-02", Label: "2026-03-02", Hits: 1, Conversations: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("UTC: got %+v\nwant %+v", got, want)
	}
	if loc := tenantLocation("Not/AZone"); loc != time.UTC {
		t.Errorf("unknown zone: %v", loc)
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
