package tracker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/model"
)

// memTrackers is an in-memory Repo; jobs maps tracker id to the
// version of its pending job.
type memTrackers struct {
	rows map[int64]*model.Tracker
	jobs map[int64]int64
	next int64
}

func newMemTrackers() *memTrackers {
	return &memTrackers{rows: map[int64]*model.Tracker{}, jobs: map[int64]int64{}}
}

var errMemTrackerNotFound = errs.NotFound("TRACKER_NOT_FOUND", "no such tracker")

func (m *memTrackers) ListTrackers(_ context.Context, tenantID int64) ([]model.Tracker, error) {
	var out []model.Tracker
	for id := int64(1); id <= m.next; id++ {
		if t := m.rows[id]; t != nil && t.TenantID == tenantID && t.DeletedAt == nil {
			out = append(out, *t)
		}
	}
	return out, nil
}

func (m *memTrackers) GetTracker(_ context.Context, tenantID, id int64) (*model.Tracker, error) {
	t := m.rows[id]
	if t == nil || t.TenantID != tenantID || t.DeletedAt != nil {
		return nil, errMemTrackerNotFound
	}
	c := *t
	return &c, nil
}

func (m *memTrackers) CreateTracker(_ context.Context, t *model.Tracker) error {
	m.next++
	t.ID, t.Version = m.next, 1
	c := *t
	m.rows[t.ID] = &c
	m.jobs[t.ID] = 1
	return nil
}

func (m *memTrackers) UpdateTracker(ctx context.Context, t *model.Tracker) (bool, error) {
	cur, err := m.GetTracker(ctx, t.TenantID, t.ID)
	if err != nil {
		return false, err
	}
	rematch := cur.Keywords != t.Keywords || cur.Affiliation != t.Affiliation
	t.Version = cur.Version
	if rematch {
		t.Version++
		m.jobs[t.ID] = t.Version
	}
	c := *t
	m.rows[t.ID] = &c
	return rematch, nil
}

func (m *memTrackers) DeleteTracker(ctx context.Context, tenantID, id int64) error {
	cur, err := m.GetTracker(ctx, tenantID, id)
	if err != nil {
		return err
	}
	cur.Version++
	cur.DeletedAt = &cur.UpdatedAt
	m.rows[id] = cur
	m.jobs[id] = cur.Version
	return nil
}

func (m *memTrackers) ApplyingTrackers(_ context.Context, tenantID int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	for id := range m.jobs {
		if m.rows[id].TenantID == tenantID {
			out[id] = true
		}
	}
	return out, nil
}

func TestInputValidation(t *testing.T) {
	long := strings.Repeat("字", 65)
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprint("kw", i)
	}
	tests := []struct {
		name  string
		in    Input
		field string // "" when valid
		want  []string
	}{
		{"valid, defaults to anyone", Input{Name: " Pricing ", Keywords: []string{"price", " free   trial ", "预算"}}, "", []string{"price", "free trial", "预算"}},
		{"duplicates dropped", Input{Name: "x", Keywords: []string{"Price", "price", "PRICE!"}}, "", []string{"Price"}},
		{"exactly 64 characters", Input{Name: "x", Keywords: []string{strings.Repeat("字", 64)}}, "", []string{strings.Repeat("字", 64)}},
		{"name required", Input{Name: "  ", Keywords: []string{"a"}}, "name", nil},
		{"name too long", Input{Name: strings.Repeat("n", 256), Keywords: []string{"a"}}, "name", nil},
		{"no keywords", Input{Name: "x"}, "keywords", nil},
		{"too many keywords", Input{Name: "x", Keywords: many}, "keywords", nil},
		{"empty keyword", Input{Name: "x", Keywords: []string{"a", " "}}, "keywords[1]", nil},
		{"keyword too long", Input{Name: "x", Keywords: []string{long}}, "keywords[0]", nil},
		{"keyword of punctuation only", Input{Name: "x", Keywords: []string{"?!"}}, "keywords[0]", nil},
		{"bad affiliation", Input{Name: "x", Keywords: []string{"a"}, Affiliation: "customer"}, "affiliation", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row, err := trackerRow(tc.in)
			if tc.field != "" {
				var e *errs.Error
				if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Metadata["field"] != tc.field {
					t.Fatalf("want INVALID_ARGUMENT on %s, got %v", tc.field, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			_ = json.Unmarshal([]byte(row.Keywords), &got)
			if !slices.Equal(got, tc.want) || row.Affiliation != model.AffiliationAnyone || strings.TrimSpace(row.Name) != row.Name {
				t.Errorf("got %+v keywords %q", row, got)
			}
		})
	}
}

func TestTrackerCRUD(t *testing.T) {
	repo := newMemTrackers()
	wakes := 0
	tr := NewTrackers(repo, func() { wakes++ })
	admin := accesstest.User(model.RoleAdmin, 1, 10)

	created, err := tr.Create(admin, Input{Name: "Pricing", Keywords: []string{"price"}, Affiliation: "external"})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == 0 || !created.Applying || created.Affiliation != "external" || wakes != 1 {
		t.Fatalf("created %+v, wakes %d", created, wakes)
	}

	// A rename does not re-apply; a keyword change does.
	renamed, err := tr.Update(admin, created.ID, Input{Name: "Prices", Keywords: []string{"price"}, Affiliation: "external"})
	if err != nil || renamed.Name != "Prices" || wakes != 1 || repo.rows[created.ID].Version != 1 {
		t.Fatalf("rename: %+v %v, wakes %d", renamed, err, wakes)
	}
	changed, err := tr.Update(admin, created.ID, Input{Name: "Prices", Keywords: []string{"price", "cost"}, Affiliation: "external"})
	if err != nil || !changed.Applying || wakes != 2 || repo.rows[created.ID].Version != 2 {
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
		_, err = tr.Create(ctx, Input{Name: "x", Keywords: []string{"y"}})
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
	if _, err := tr.Update(accesstest.User(model.RoleAdmin, 2, 20), created.ID, Input{Name: "x", Keywords: []string{"y"}}); errs.ReasonOf(err) != "TRACKER_NOT_FOUND" {
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
	if err := tr.Delete(admin, created.ID); errs.ReasonOf(err) != "TRACKER_NOT_FOUND" {
		t.Errorf("second delete: %v", err)
	}
}
