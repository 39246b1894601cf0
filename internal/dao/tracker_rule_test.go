package dao_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/logic/tracker"
	"github.com/megaview/mgvcore/internal/model"
)

// Hits an earlier rule of matching stored are replaced once the service of
// this rule starts: every tracker below model.TrackerMatchRule is queued
// once, by whichever instance raises its rule first, as a job of the kind
// only this version claims, in place of the jobs earlier versions left; a
// deleted tracker's purge runs on.
func TestTrackersOfAnEarlierRuleAreAppliedAgainOnce(t *testing.T) {
	e := newTrackerEnv(t)
	ctx := context.Background()
	admin := e.as(e.admin)
	c1 := e.create(t, "c1", e.reps[0], time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), nil)
	e.say(t, c1, "产品很好，用户都满意", "这个很好用", "预，算", "我们的预算有限")

	tr, err := e.trackers.Create(admin, tracker.Input{Name: "Ease", Keywords: []string{"好用", "预算"}})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := e.trackers.Create(admin, tracker.Input{Name: "Gone", Keywords: []string{"好"}})
	if err != nil {
		t.Fatal(err)
	}
	e.drain(t, 10)
	if got := e.hitSeqs(t, tr.ID); !slices.Equal(got, []string{"1:好用", "3:预算"}) {
		t.Fatalf("hits by this rule: %q", got)
	}
	if err := e.trackers.Delete(admin, gone.ID); err != nil {
		t.Fatal(err)
	}

	// The database as an earlier version left it: rule 0, the hits its
	// rule found across the comma, and a job of its kind still pending.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.db.Exec("UPDATE trackers SET match_rule = 0").Error)
	for _, h := range []model.TrackerHit{{Seq: 0, Phrase: "好用"}, {Seq: 2, Phrase: "预算"}} {
		h.TenantID, h.TrackerID, h.ConversationID, h.SpeakerKey = e.tenant, tr.ID, c1, "rep"
		must(e.db.Create(&h).Error)
	}
	now := time.Now().UTC()
	must(e.db.Create(&model.OutboxJob{TenantID: e.tenant, Kind: model.OutboxTrackerApplyRule1, TrackerID: tr.ID, Version: 1,
		ConversationID: c1, NextAttemptAt: now.Add(time.Hour), CreatedAt: now}).Error)

	// Two instances starting at once: the first takes the live tracker,
	// the second finds only the deleted one, whose rule it raises alone;
	// then none is left.
	one, two := dao.NewTrackerJobs(e.db), dao.NewTrackerJobs(e.db)
	if read, queued, err := one.RequeueEarlierRule(ctx, 1); err != nil || read != 1 || queued != 1 {
		t.Fatalf("first instance: read %d, queued %d, %v", read, queued, err)
	}
	if read, queued, err := two.RequeueEarlierRule(ctx, 10); err != nil || read != 1 || queued != 0 {
		t.Fatalf("second instance: read %d, queued %d, %v", read, queued, err)
	}
	for _, r := range []*dao.TrackerJobs{one, two} {
		if read, queued, err := r.RequeueEarlierRule(ctx, 10); err != nil || read != 0 || queued != 0 {
			t.Fatalf("again: read %d, queued %d, %v", read, queued, err)
		}
	}
	var jobs []model.OutboxJob
	must(e.db.Where("tracker_id IN ?", []int64{tr.ID, gone.ID}).Order("id").Find(&jobs).Error)
	var got []string
	for _, j := range jobs {
		got = append(got, fmt.Sprintf("%d:%s:v%d@%d", j.TrackerID, j.Kind, j.Version, j.ConversationID))
	}
	want := []string{
		fmt.Sprintf("%d:%s:v2", gone.ID, model.OutboxTrackerApply) + "@0", // the purge
		fmt.Sprintf("%d:%s:v1", tr.ID, model.OutboxTrackerApply) + "@0",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("jobs %q, want %q", got, want)
	}
	var rules []int
	must(e.db.Model(&model.Tracker{}).Where("id IN ?", []int64{tr.ID, gone.ID}).Order("id").Pluck("match_rule", &rules).Error)
	if !slices.Equal(rules, []int{model.TrackerMatchRule, model.TrackerMatchRule}) {
		t.Errorf("rules %v", rules)
	}

	e.drain(t, 10)
	if got := e.hitSeqs(t, tr.ID); !slices.Equal(got, []string{"1:好用", "3:预算"}) {
		t.Errorf("hits applied again: %q", got)
	}
}

// hitSeqs lists a tracker's stored hits as "seq:phrase", sorted.
func (e *trackerEnv) hitSeqs(t *testing.T, trackerID int64) []string {
	t.Helper()
	var rows []model.TrackerHit
	if err := e.db.Where("tracker_id = ?", trackerID).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(rows))
	for _, h := range rows {
		out = append(out, fmt.Sprintf("%d:%s", h.Seq, h.Phrase))
	}
	slices.Sort(out)
	return out
}

// A job an earlier version queued (a change made through one of its
// instances while the fleet is upgraded) is claimed here too, and applied
// by this version's rule.
func TestTrackerJobOfTheEarlierKindIsClaimed(t *testing.T) {
	e := newTrackerEnv(t)
	ctx := context.Background()
	c1 := e.create(t, "c1", e.reps[0], time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), nil)
	e.say(t, c1, "产品很好，用户都满意", "这个很好用")
	// To the millisecond, as the store's clock reads it: a job due later
	// within the claim's millisecond is not due yet.
	now := time.Now().UTC().Truncate(time.Millisecond)
	tr := model.Tracker{TenantID: e.tenant, Name: "Ease", Keywords: `["好用"]`, Affiliation: model.AffiliationAnyone,
		Version: 1, MatchRule: model.TrackerMatchRule, CreatedAt: now, UpdatedAt: now}
	if err := e.db.Create(&tr).Error; err != nil {
		t.Fatal(err)
	}
	job := model.OutboxJob{TenantID: e.tenant, Kind: model.OutboxTrackerApplyRule1, TrackerID: tr.ID, Version: 1, NextAttemptAt: now, CreatedAt: now}
	if err := e.db.Create(&job).Error; err != nil {
		t.Fatal(err)
	}
	claimed, err := e.jobs.ClaimTrackerJob(ctx, time.Minute)
	if err != nil || claimed == nil || claimed.ID != job.ID {
		t.Fatalf("claimed %+v, %v; want job %d", claimed, err, job.ID)
	}
	if lost, err := e.jobs.RetryTrackerJob(ctx, claimed, now, nil); err != nil || lost {
		t.Fatalf("hand back: %v %v", lost, err)
	}
	e.drain(t, 10)
	if got := e.hitSeqs(t, tr.ID); !slices.Equal(got, []string{"1:好用"}) {
		t.Errorf("hits %q", got)
	}
}
