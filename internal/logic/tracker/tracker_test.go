package tracker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/tracker"
	"github.com/megaview/mgvcore/internal/model"
)

// TestTrackerCRUD runs the use cases on a real store, whose versions,
// pending jobs and tenant scoping they rely on.
func TestTrackerCRUD(t *testing.T) {
	repo := dao.NewTrackers(daotest.Open(t))
	wakes := 0
	tr := tracker.NewTrackers(repo, func() { wakes++ })
	admin := accesstest.User(model.RoleAdmin, 1, 10)
	version := func(id int64) int64 {
		t.Helper()
		row, err := repo.GetTracker(context.Background(), 1, id)
		if err != nil {
			t.Fatal(err)
		}
		return row.Version
	}

	created, err := tr.Create(admin, tracker.Input{Name: "Pricing", Keywords: []string{"price"}, Affiliation: "external"})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == 0 || !created.Applying || created.Affiliation != "external" || wakes != 1 {
		t.Fatalf("created %+v, wakes %d", created, wakes)
	}

	// A rename does not re-apply (it shows the create's job, still
	// pending); a keyword change does.
	renamed, err := tr.Update(admin, created.ID, tracker.Input{Name: "Prices", Keywords: []string{"price"}, Affiliation: "external"})
	if err != nil || renamed.Name != "Prices" || !renamed.Applying || wakes != 1 || version(created.ID) != 1 {
		t.Fatalf("rename: %+v %v, wakes %d", renamed, err, wakes)
	}
	changed, err := tr.Update(admin, created.ID, tracker.Input{Name: "Prices", Keywords: []string{"price", "cost"}, Affiliation: "external"})
	if err != nil || !changed.Applying || wakes != 2 || version(created.ID) != 2 {
		t.Fatalf("change: %+v %v, wakes %d", changed, err, wakes)
	}

	for role, ctx := range map[string]context.Context{
		model.RoleRep: accesstest.User(model.RoleRep, 1, 11), model.RoleManager: accesstest.User(model.RoleManager, 1, 11),
		model.RoleApp: accesstest.App(1, "read"),
	} {
		page, err := tr.List(ctx, tracker.ListRequest{})
		list := page.Trackers
		if err != nil || len(list) != 1 || !slices.Equal(list[0].Keywords, []string{"price", "cost"}) {
			t.Errorf("%s list: %+v %v", role, list, err)
		}
		_, err = tr.Create(ctx, tracker.Input{Name: "x", Keywords: []string{"y"}})
		if errs.ReasonOf(err) != errs.ReasonPermissionDenied {
			t.Errorf("%s create: %v", role, err)
		}
		if err := tr.Delete(ctx, created.ID); errs.ReasonOf(err) != errs.ReasonPermissionDenied {
			t.Errorf("%s delete: %v", role, err)
		}
	}
	if page, _ := tr.List(accesstest.User(model.RoleAdmin, 2, 20), tracker.ListRequest{}); len(page.Trackers) != 0 {
		t.Errorf("other tenant sees %+v", page)
	}
	if _, err := tr.Update(accesstest.User(model.RoleAdmin, 2, 20), created.ID, tracker.Input{Name: "x", Keywords: []string{"y"}}); errs.ReasonOf(err) != errs.ReasonTrackerNotFound {
		t.Errorf("other tenant update: %v", err)
	}
	if _, err := tr.List(accesstest.App(1, "ingest"), tracker.ListRequest{}); errs.ReasonOf(err) != errs.ReasonPermissionDenied {
		t.Errorf("app without read: %v", err)
	}
	if _, err := tr.List(context.Background(), tracker.ListRequest{}); errs.ReasonOf(err) != errs.ReasonUnauthenticated {
		t.Errorf("anonymous: %v", err)
	}

	if err := tr.Delete(admin, created.ID); err != nil || wakes != 3 {
		t.Fatalf("delete: %v, wakes %d", err, wakes)
	}
	if page, _ := tr.List(admin, tracker.ListRequest{}); len(page.Trackers) != 0 {
		t.Errorf("after delete: %+v", page)
	}
	if err := tr.Delete(admin, created.ID); errs.ReasonOf(err) != errs.ReasonTrackerNotFound {
		t.Errorf("second delete: %v", err)
	}
}

// The list pages by id when asked to, and is whole when not: a client
// that sends neither page_size nor page_token gets every tracker, as
// before the list was paged.
func TestTrackerListPages(t *testing.T) {
	tr := tracker.NewTrackers(dao.NewTrackers(daotest.Open(t)), nil)
	admin := accesstest.User(model.RoleAdmin, 1, 10)
	var ids []int64
	for i := range 5 {
		c, err := tr.Create(admin, tracker.Input{Name: fmt.Sprint("t", i), Keywords: []string{"price"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	idsOf := func(p tracker.Page) []int64 {
		out := []int64{}
		for _, x := range p.Trackers {
			out = append(out, x.ID)
		}
		return out
	}
	whole, err := tr.List(admin, tracker.ListRequest{})
	if err != nil || !slices.Equal(idsOf(whole), ids) || whole.NextPageToken != "" {
		t.Fatalf("whole list: %v %q %v", idsOf(whole), whole.NextPageToken, err)
	}

	// Pages of two; a tracker deleted between pages neither shifts nor
	// repeats the others.
	first, err := tr.List(admin, tracker.ListRequest{PageSize: 2})
	if err != nil || !slices.Equal(idsOf(first), ids[:2]) || first.NextPageToken == "" || !first.Trackers[0].Applying {
		t.Fatalf("first page: %+v %v", first, err)
	}
	if err := tr.Delete(admin, ids[2]); err != nil {
		t.Fatal(err)
	}
	second, err := tr.List(admin, tracker.ListRequest{PageSize: 2, PageToken: first.NextPageToken})
	if err != nil || !slices.Equal(idsOf(second), ids[3:5]) || second.NextPageToken != "" {
		t.Fatalf("second and last page: %v %q %v", idsOf(second), second.NextPageToken, err)
	}
	// A token alone pages by 20.
	rest, err := tr.List(admin, tracker.ListRequest{PageToken: first.NextPageToken})
	if err != nil || !slices.Equal(idsOf(rest), ids[3:]) || rest.NextPageToken != "" {
		t.Fatalf("token alone: %v %q %v", idsOf(rest), rest.NextPageToken, err)
	}

	for _, bad := range []struct {
		req   tracker.ListRequest
		field string
	}{
		{tracker.ListRequest{PageSize: 101}, "page_size"},
		{tracker.ListRequest{PageSize: -1}, "page_size"},
		{tracker.ListRequest{PageToken: "not a token"}, "page_token"},
		{tracker.ListRequest{PageToken: "eyJhIjotMX0"}, "page_token"}, // {"a":-1}
	} {
		_, err := tr.List(admin, bad.req)
		if e := errs.From(err); e.Reason != errs.ReasonInvalidArgument || e.Metadata["field"] != bad.field {
			t.Errorf("%+v: %v", bad.req, err)
		}
	}
}

// Every page, and the whole list, gives the tenant's live trackers over
// all pages as its total, whatever its size: deleted trackers and another
// tenant's do not count.
func TestTrackerListTotal(t *testing.T) {
	tr := tracker.NewTrackers(dao.NewTrackers(daotest.Open(t)), nil)
	admin, other := accesstest.User(model.RoleAdmin, 1, 10), accesstest.User(model.RoleAdmin, 2, 20)
	var ids []int64
	for i := range 6 {
		c, err := tr.Create(admin, tracker.Input{Name: fmt.Sprint("t", i), Keywords: []string{"price"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if _, err := tr.Create(other, tracker.Input{Name: "theirs", Keywords: []string{"price"}}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Delete(admin, ids[1]); err != nil {
		t.Fatal(err)
	}

	// Pages of two: three pages, each with the total of five.
	var totals []int64
	seen := 0
	req := tracker.ListRequest{PageSize: 2}
	for range 5 {
		page, err := tr.List(admin, req)
		if err != nil {
			t.Fatal(err)
		}
		totals = append(totals, page.Total)
		seen += len(page.Trackers)
		if req.PageToken = page.NextPageToken; req.PageToken == "" {
			break
		}
	}
	if fmt.Sprint(totals) != "[5 5 5]" || seen != 5 {
		t.Fatalf("pages of two: totals %v, %d trackers; want [5 5 5] and 5", totals, seen)
	}
	for _, req := range []tracker.ListRequest{{}, {PageSize: 1}, {PageSize: 100}} {
		page, err := tr.List(admin, req)
		if err != nil || page.Total != 5 {
			t.Fatalf("page_size %d: total %d (%d trackers), %v; want 5", req.PageSize, page.Total, len(page.Trackers), err)
		}
	}
	for _, req := range []tracker.ListRequest{{}, {PageSize: 1}} {
		if page, err := tr.List(other, req); err != nil || page.Total != 1 {
			t.Fatalf("the other tenant, page_size %d: total %d, %v; want 1", req.PageSize, page.Total, err)
		}
	}
}

// A tracker whose name or keyword an earlier release stored, which
// access.CheckName refuses, can be updated sending them again (another
// affiliation, one more keyword); a new name or keyword is refused naming
// the field.
func TestTrackerUpdateKeepsStoredNames(t *testing.T) {
	db := daotest.Open(t)
	tr := tracker.NewTrackers(dao.NewTrackers(db), func() {})
	admin := accesstest.User(model.RoleAdmin, 1, 10)
	created, err := tr.Create(admin, tracker.Input{Name: "Pricing", Keywords: []string{"price"}})
	if err != nil {
		t.Fatal(err)
	}
	const name, keyword = "\u202bسعر\u202c", "price\u202e"
	if err := db.Model(&model.Tracker{}).Where("id = ?", created.ID).
		Updates(map[string]any{"name": name, "keywords": `["` + keyword + `"]`}).Error; err != nil {
		t.Fatal(err)
	}
	updated, err := tr.Update(admin, created.ID, tracker.Input{Name: name, Keywords: []string{keyword, "cost"}, Affiliation: "external"})
	if err != nil || updated.Name != name || !slices.Equal(updated.Keywords, []string{keyword, "cost"}) {
		t.Fatalf("update keeping the stored name and keyword: %+v, %v", updated, err)
	}
	for field, in := range map[string]tracker.Input{
		"name":        {Name: "\u200b", Keywords: []string{keyword}},
		"keywords[1]": {Name: name, Keywords: []string{keyword, "fee\u202e"}},
	} {
		_, err := tr.Update(admin, created.ID, in)
		if e := errs.From(err); e == nil || e.Reason != errs.ReasonInvalidArgument || e.Metadata["field"] != field {
			t.Errorf("new %s refused by CheckName: %v", field, err)
		}
	}
	if _, err := tr.Create(admin, tracker.Input{Name: "Other", Keywords: []string{keyword}}); errs.From(err) == nil || errs.From(err).Metadata["field"] != "keywords[0]" {
		t.Errorf("a new tracker with the stored keyword: %v, want INVALID_ARGUMENT on keywords[0]", err)
	}
}
