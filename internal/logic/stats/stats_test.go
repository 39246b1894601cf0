package stats_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/stats"
	"github.com/megaview/mgvcore/internal/model"
)

// TestStatsUseCases runs the use cases on a real store, which holds the
// tenant's time zone and resolves trackers and departments per tenant.
func TestStatsUseCases(t *testing.T) {
	db := daotest.Open(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tenant := model.Tenant{Name: "T", Timezone: "Asia/Shanghai", RateTier: "standard"}
	must(db.Create(&tenant).Error)
	department := func(name string) model.Department {
		d := model.Department{TenantID: tenant.ID, Name: name}
		must(db.Create(&d).Error)
		must(db.Model(&d).Update("path", fmt.Sprintf("/%d/", d.ID)).Error)
		return d
	}
	sales, support := department("sales"), department("support")
	email, phone := "r1@example.com", "+8613800000001"
	r1 := model.User{TenantID: tenant.ID, Name: "r1", Role: model.RoleRep, Status: model.UserActive, DepartmentID: &sales.ID, Email: &email, Phone: &phone}
	must(db.Create(&r1).Error)
	trackers := dao.NewTrackers(db)
	tr := model.Tracker{TenantID: tenant.ID, Name: "p", Keywords: `["price"]`, Affiliation: model.AffiliationAnyone}
	must(trackers.CreateTracker(context.Background(), &tr, 0))
	// 20:00 UTC on March 1 is March 2 in Shanghai.
	conv := model.Conversation{TenantID: tenant.ID, OriginConversationID: "c1", OwnerUserID: r1.ID, BeginTime: time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)}
	must(db.Create(&conv).Error)
	must(db.Create([]model.TrackerHit{
		{TenantID: tenant.ID, TrackerID: tr.ID, ConversationID: conv.ID, Seq: 1, Phrase: "price"},
		{TenantID: tenant.ID, TrackerID: tr.ID, ConversationID: conv.ID, Seq: 2, Phrase: "price"},
	}).Error)

	st := stats.NewStats(dao.NewStats(db), trackers)
	rep := accesstest.User(model.RoleRep, tenant.ID, r1.ID)
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

	byDay, err := st.TrackerStats(rep, stats.TrackerStatsRequest{TrackerID: tr.ID, GroupBy: stats.GroupByDay, From: from, To: to})
	if err != nil || len(byDay.Buckets) != 1 || byDay.Buckets[0].Key != "2026-03-02" || byDay.Buckets[0].Hits != 2 {
		t.Errorf("by day: %+v %v", byDay, err)
	}
	byOwner, err := st.TrackerStats(rep, stats.TrackerStatsRequest{TrackerID: tr.ID, GroupBy: stats.GroupByOwner, From: from, To: to})
	if err != nil || len(byOwner.Buckets) != 1 || byOwner.Buckets[0].Label != "r1" {
		t.Errorf("by owner: %+v %v", byOwner, err)
	}
	for name, req := range map[string]stats.TrackerStatsRequest{
		"tracker_id": {GroupBy: stats.GroupByDay, From: from, To: to},
		"group_by":   {TrackerID: tr.ID, GroupBy: "week", From: from, To: to},
		"to":         {TrackerID: tr.ID, GroupBy: stats.GroupByDay, From: from, To: from.AddDate(2, 0, 0)},
	} {
		if _, err := st.TrackerStats(rep, req); errs.ReasonOf(err) != errs.ReasonInvalidArgument || errs.From(err).Metadata["field"] != name {
			t.Errorf("want an error on %s, got %v", name, err)
		}
	}
	// An app with read names the reps; their email and phone come with the
	// org scope, as the user list does.
	for scopes, contact := range map[string]bool{"read": false, "read org": true} {
		res, err := st.RepStats(accesstest.App(tenant.ID, strings.Fields(scopes)...), stats.RepStatsRequest{From: from, To: to})
		if err != nil || len(res.Reps) == 0 {
			t.Fatalf("rep stats for an app with %s: %+v %v", scopes, res, err)
		}
		if got := res.Reps[0].User.Email != nil && res.Reps[0].User.Phone != nil; got != contact || res.Reps[0].User.Name != "r1" {
			t.Errorf("an app with %s: %+v, want email and phone %v", scopes, res.Reps[0].User, contact)
		}
	}
	// The scope comes first: a caller without it learns nothing about the
	// arguments.
	ingest := accesstest.App(tenant.ID, "ingest")
	for _, req := range []stats.TrackerStatsRequest{{}, {TrackerID: tr.ID, GroupBy: "week"}, {TrackerID: tr.ID + 1, GroupBy: stats.GroupByDay, From: from, To: to}} {
		if _, err := st.TrackerStats(ingest, req); errs.ReasonOf(err) != errs.ReasonPermissionDenied {
			t.Errorf("an app without read, %+v: %v", req, err)
		}
	}
	other := accesstest.User(model.RoleAdmin, tenant.ID+1, 1)
	for _, c := range []struct {
		ctx context.Context
		id  int64
	}{{rep, tr.ID + 1}, {other, tr.ID}} {
		if _, err := st.TrackerStats(c.ctx, stats.TrackerStatsRequest{TrackerID: c.id, GroupBy: stats.GroupByDay, From: from, To: to}); errs.ReasonOf(err) != errs.ReasonTrackerNotFound {
			t.Errorf("tracker %d: %v", c.id, err)
		}
	}

	// The department filter narrows to the reps of its subtree.
	admin := accesstest.User(model.RoleAdmin, tenant.ID, 1)
	for d, want := range map[int64]int{sales.ID: 1, support.ID: 0} {
		if res, err := st.RepStats(admin, stats.RepStatsRequest{From: from, To: to, DepartmentID: d}); err != nil || len(res.Reps) != want || res.Team.ConversationCount != int64(want) {
			t.Errorf("department %d: %+v %v, want %d reps", d, res, err, want)
		}
	}
	if _, err := st.RepStats(rep, stats.RepStatsRequest{From: from, To: to, DepartmentID: support.ID + 1}); errs.ReasonOf(err) != errs.ReasonDepartmentNotFound {
		t.Errorf("unknown department: %v", err)
	}
	if _, err := st.RepStats(rep, stats.RepStatsRequest{To: to}); errs.From(err).Metadata["field"] != "from" {
		t.Errorf("missing from: %v", err)
	}
}
