package tracker_test

import (
	"context"
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
		list, err := tr.List(ctx)
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
	if list, _ := tr.List(accesstest.User(model.RoleAdmin, 2, 20)); len(list) != 0 {
		t.Errorf("other tenant sees %+v", list)
	}
	if _, err := tr.Update(accesstest.User(model.RoleAdmin, 2, 20), created.ID, tracker.Input{Name: "x", Keywords: []string{"y"}}); errs.ReasonOf(err) != errs.ReasonTrackerNotFound {
		t.Errorf("other tenant update: %v", err)
	}
	if _, err := tr.List(accesstest.App(1, "ingest")); errs.ReasonOf(err) != errs.ReasonPermissionDenied {
		t.Errorf("app without read: %v", err)
	}
	if _, err := tr.List(context.Background()); errs.ReasonOf(err) != errs.ReasonUnauthenticated {
		t.Errorf("anonymous: %v", err)
	}

	if err := tr.Delete(admin, created.ID); err != nil || wakes != 3 {
		t.Fatalf("delete: %v, wakes %d", err, wakes)
	}
	if list, _ := tr.List(admin); len(list) != 0 {
		t.Errorf("after delete: %+v", list)
	}
	if err := tr.Delete(admin, created.ID); errs.ReasonOf(err) != errs.ReasonTrackerNotFound {
		t.Errorf("second delete: %v", err)
	}
}
