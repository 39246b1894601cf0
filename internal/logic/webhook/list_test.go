package webhook_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/model"
)

// Every page of subscriptions gives, as its total, how many the caller's
// list holds over all pages: an app's own only, the whole tenant's for an
// admin, never another tenant's, the same for any page size.
func TestSubscriptionListTotal(t *testing.T) {
	ctx := context.Background()
	db := daotest.Open(t)
	store, apps := dao.NewWebhooks(db), dao.NewApps(db)
	tenants := []model.Tenant{{Name: "A"}, {Name: "B"}}
	if err := db.Create(&tenants).Error; err != nil {
		t.Fatal(err)
	}
	a, b := tenants[0].ID, tenants[1].ID
	// subscribe gives a new app of the tenant n subscriptions.
	subscribe := func(tenant int64, name string, n int) context.Context {
		t.Helper()
		app := model.App{TenantID: tenant, Name: name, AppKey: fmt.Sprint("ak_", name, tenant), Scopes: "read", Status: model.AppActive}
		if err := apps.Create(ctx, &app); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			s := model.WebhookSubscription{TenantID: tenant, AppID: app.ID, URL: fmt.Sprintf("https://r.example/%s/%d", name, i),
				EventTypes: "transcript.ready", SecretSealed: "v1:x", Status: model.WebhookActive}
			if err := store.Create(ctx, &s, 20); err != nil {
				t.Fatal(err)
			}
		}
		return model.WithScope(ctx, model.Scope{TenantID: tenant, AppID: app.ID, Role: model.RoleApp, AppScopes: []string{"read"}})
	}
	crm, erp := subscribe(a, "crm", 5), subscribe(a, "erp", 2)
	theirs := subscribe(b, "crm", 3)
	subs := webhook.NewSubscriptions(store, nil, nil, nil, nil, 0, 0)

	// walk lists every page of size and returns each page's total and how
	// many subscriptions the pages held.
	walk := func(ctx context.Context, admin bool, size int) (totals []int64, seen int) {
		t.Helper()
		req := webhook.ListReq{PageSize: size, Admin: admin}
		for range 10 {
			page, err := subs.List(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			totals = append(totals, page.Total)
			seen += len(page.Subscriptions)
			if req.PageToken = page.NextPageToken; req.PageToken == "" {
				return totals, seen
			}
		}
		t.Fatal("paging does not end")
		return nil, 0
	}
	for _, c := range []struct {
		name  string
		ctx   context.Context
		admin bool
		size  int
		want  string
		seen  int
	}{
		{"the app with five, pages of two", crm, false, 2, "[5 5 5]", 5},
		{"the app with five, one page", crm, false, 0, "[5]", 5},
		{"the app with two, pages of one", erp, false, 1, "[2 2]", 2},
		{"the admin, pages of three", accesstest.User(model.RoleAdmin, a, 1), true, 3, "[7 7 7]", 7},
		{"the admin, pages of a hundred", accesstest.User(model.RoleAdmin, a, 1), true, 100, "[7]", 7},
		{"another tenant's app", theirs, false, 2, "[3 3]", 3},
		{"another tenant's admin", accesstest.User(model.RoleAdmin, b, 2), true, 1, "[3 3 3]", 3},
	} {
		totals, seen := walk(c.ctx, c.admin, c.size)
		if fmt.Sprint(totals) != c.want || seen != c.seen {
			t.Errorf("%s: totals %v over %d subscriptions, want %s over %d", c.name, totals, seen, c.want, c.seen)
		}
	}
}
