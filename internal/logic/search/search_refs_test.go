package search_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	logicsearch "github.com/megaview/mgvcore/internal/logic/search"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/search"
	"github.com/megaview/mgvcore/internal/search/embedded"
)

// A search or a conversation list by a department or a tracker the tenant
// does not have is refused as the user list and the tracker statistics
// refuse them, not answered with an empty page: another tenant's and a
// deleted tracker are as unknown as none, and the error names the field
// and the id.
func TestFiltersRefuseUnknownReferences(t *testing.T) {
	daotest.Each(t, testFiltersRefuseUnknownReferences)
}

func testFiltersRefuseUnknownReferences(t *testing.T, db *gorm.DB) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	deps := []*model.Department{{TenantID: 7, Name: "ours", Path: "/"}, {TenantID: 8, Name: "theirs", Path: "/"}}
	trackers := []*model.Tracker{{TenantID: 7}, {TenantID: 7, DeletedAt: &now}, {TenantID: 8}}
	for _, tr := range trackers {
		tr.Name, tr.Keywords, tr.Affiliation, tr.Version, tr.CreatedAt, tr.UpdatedAt = "t", `["price"]`, model.AffiliationAnyone, 1, now, now
	}
	if err := db.Create(deps).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(trackers).Error; err != nil {
		t.Fatal(err)
	}
	ours, theirs := deps[0].ID, deps[1].ID
	live, gone, foreign := trackers[0].ID, trackers[1].ID, trackers[2].ID
	if err := db.Model(deps[0]).Update("path", fmt.Sprintf("/%d/", ours)).Error; err != nil {
		t.Fatal(err)
	}
	rep := model.User{TenantID: 7, Name: "rep", Role: model.RoleRep, Status: model.UserActive, DepartmentID: &ours}
	if err := db.Create(&rep).Error; err != nil {
		t.Fatal(err)
	}
	c := model.Conversation{TenantID: 7, OriginConversationID: "c", OwnerUserID: rep.ID, Channel: "call", Direction: "unknown",
		Status: "ready", BeginTime: now.Add(-time.Hour), CreatedAt: now, UpdatedAt: now}
	if err := db.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	hits := []model.TrackerHit{{TenantID: 7, TrackerID: live, ConversationID: c.ID, Phrase: "price"}, {TenantID: 7, TrackerID: gone, ConversationID: c.ID, Phrase: "price"}}
	if err := db.Create(hits).Error; err != nil {
		t.Fatal(err)
	}
	engine, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close() })
	doc := &search.Doc{TenantID: 7, ConversationID: c.ID, OwnerUserID: rep.ID, DepartmentPath: fmt.Sprintf("/%d/", ours), Channel: "call",
		Direction: "unknown", BeginTime: c.BeginTime, Language: "en", Version: 1,
		Sentences: []search.Sentence{{Seq: 0, SpeakerKey: "a", Affiliation: model.AffiliationInternal, EndMS: 10, Text: "the price is right"}}}
	if res, err := engine.Write(context.Background(), []search.Op{{TenantID: 7, ConversationID: c.ID, Doc: doc}}); err != nil || res[0] != nil {
		t.Fatalf("index: %v %v", res, err)
	}

	s := logicsearch.NewService(engine, dao.NewSearchLookups(db))
	r := conversation.NewReader(dao.NewConversations(db))
	type call func(ctx context.Context, f model.ConversationFilter) (int, error)
	calls := map[string]call{
		"search": func(ctx context.Context, f model.ConversationFilter) (int, error) {
			p, err := s.Search(ctx, logicsearch.Request{Query: "price", ConversationFilter: f})
			return len(p.Results), err
		},
		"list": func(ctx context.Context, f model.ConversationFilter) (int, error) {
			p, err := r.List(ctx, conversation.ListRequest{Filter: f})
			return len(p.Conversations), err
		},
	}
	admin := accesstest.User(model.RoleAdmin, 7, 1)
	for name, do := range calls {
		for _, f := range []model.ConversationFilter{{}, {DepartmentID: ours}, {TrackerID: live}, {DepartmentID: ours, TrackerID: live}} {
			if n, err := do(admin, f); err != nil || n != 1 {
				t.Errorf("%s %+v: %d found, %v", name, f, n, err)
			}
		}
		for _, tc := range []struct {
			f      model.ConversationFilter
			reason string
			msg    string
		}{
			{model.ConversationFilter{DepartmentID: theirs}, errs.ReasonDepartmentNotFound, fmt.Sprintf("department_id: no department %d in this tenant", theirs)},
			{model.ConversationFilter{DepartmentID: 999_999}, errs.ReasonDepartmentNotFound, "department_id: no department 999999 in this tenant"},
			{model.ConversationFilter{TrackerID: gone}, errs.ReasonTrackerNotFound, fmt.Sprintf("tracker_id: no tracker %d in this tenant", gone)},
			{model.ConversationFilter{TrackerID: foreign}, errs.ReasonTrackerNotFound, fmt.Sprintf("tracker_id: no tracker %d in this tenant", foreign)},
			{model.ConversationFilter{TrackerID: 999_999, DepartmentID: ours}, errs.ReasonTrackerNotFound, "tracker_id: no tracker 999999 in this tenant"},
		} {
			_, err := do(admin, tc.f)
			if e := errs.From(err); e == nil || e.Reason != tc.reason || e.Status != 404 || e.Message != tc.msg || e.Field() != e.Metadata["field"] {
				t.Errorf("%s %+v: %v, want %s %q", name, tc.f, err, tc.reason, tc.msg)
			}
		}
		// The scope comes first: an app without it learns nothing.
		if _, err := do(accesstest.App(7, "ingest"), model.ConversationFilter{TrackerID: foreign}); errs.ReasonOf(err) != errs.ReasonPermissionDenied {
			t.Errorf("%s by an app without the scope: %v", name, err)
		}
	}
}

// The tracker filter reaches the engine as the ids of the conversations it
// keeps, bounded: those ids are read with the rest of the filter (the time
// range here), so a tracker with more hits than the bound in all is still
// searched within a month that has fewer. Before, the ids were read for the
// tracker alone, and such a search was refused with advice to narrow it by
// a time range, which could not help.
func TestTrackerFilterIsBoundedWithinTheOtherFilters(t *testing.T) {
	daotest.Each(t, testTrackerFilterIsBoundedWithinTheOtherFilters)
}

func testTrackerFilterIsBoundedWithinTheOtherFilters(t *testing.T, db *gorm.DB) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	tr := model.Tracker{TenantID: 7, Name: "t", Keywords: `["price"]`, Affiliation: model.AffiliationAnyone, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := db.Create(&tr).Error; err != nil {
		t.Fatal(err)
	}
	rep := model.User{TenantID: 7, Name: "rep", Role: model.RoleRep, Status: model.UserActive}
	if err := db.Create(&rep).Error; err != nil {
		t.Fatal(err)
	}
	engine, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close() })
	old := time.Date(2020, 5, 1, 9, 0, 0, 0, time.UTC)
	recent := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	var inMarch int64
	for i, begin := range []time.Time{old, old.AddDate(0, 1, 0), old.AddDate(0, 2, 0), recent} {
		c := model.Conversation{TenantID: 7, OriginConversationID: fmt.Sprint("c", i), OwnerUserID: rep.ID, Channel: "call", Direction: "unknown",
			Status: "ready", BeginTime: begin, CreatedAt: now, UpdatedAt: now}
		if err := db.Create(&c).Error; err != nil {
			t.Fatal(err)
		}
		inMarch = c.ID
		if err := db.Create(&model.TrackerHit{TenantID: 7, TrackerID: tr.ID, ConversationID: c.ID, Phrase: "price"}).Error; err != nil {
			t.Fatal(err)
		}
		doc := &search.Doc{TenantID: 7, ConversationID: c.ID, OwnerUserID: rep.ID, Channel: "call", Direction: "unknown",
			BeginTime: begin, Language: "en", Version: 1,
			Sentences: []search.Sentence{{Seq: 0, SpeakerKey: "a", Affiliation: model.AffiliationInternal, EndMS: 10, Text: "the price is right"}}}
		if res, err := engine.Write(context.Background(), []search.Op{{TenantID: 7, ConversationID: c.ID, Doc: doc}}); err != nil || res[0] != nil {
			t.Fatalf("index: %v %v", res, err)
		}
	}
	s := logicsearch.NewService(engine, dao.NewSearchLookups(db))
	s.SetMaxTrackerConversations(2)
	admin := accesstest.User(model.RoleAdmin, 7, 1)
	march := model.ConversationFilter{TrackerID: tr.ID, From: recent.AddDate(0, 0, -9), To: recent.AddDate(0, 0, 21)}
	p, err := s.Search(admin, logicsearch.Request{Query: "price", ConversationFilter: march})
	if err != nil || len(p.Results) != 1 || p.Results[0].Conversation.ID != inMarch {
		t.Fatalf("a month with one of the tracker's 4 conversations (bound 2): %+v, %v; want that one", p.Results, err)
	}
	_, err = s.Search(admin, logicsearch.Request{Query: "price", ConversationFilter: model.ConversationFilter{TrackerID: tr.ID}})
	if e := errs.From(err); e == nil || e.Field() != "tracker_id" || e.Status != 400 {
		t.Fatalf("all 4 of the tracker's conversations (bound 2): %v; want 400 naming tracker_id", err)
	}
}
