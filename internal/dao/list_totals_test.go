package dao_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// CountTrackers counts what PageTrackers pages through: the tenant's live
// trackers, not the deleted ones nor another tenant's, and inside a
// transaction what it wrote.
func TestTrackerCountMatchesThePages(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		repo, tx := dao.NewTrackers(db), dao.NewTransactor(db)
		tenants := []model.Tenant{{Name: "A", Timezone: "UTC", RateTier: "standard"}, {Name: "B", Timezone: "UTC", RateTier: "standard"}}
		if err := db.Create(&tenants).Error; err != nil {
			t.Fatal(err)
		}
		a, b := tenants[0].ID, tenants[1].ID
		add := func(ctx context.Context, tenant int64, name string) int64 {
			t.Helper()
			tr := model.Tracker{TenantID: tenant, Name: name, Keywords: `["price"]`, Affiliation: "all"}
			if err := repo.CreateTracker(ctx, &tr, 0); err != nil {
				t.Fatal(err)
			}
			return tr.ID
		}
		var ids []int64
		for i := range 4 {
			ids = append(ids, add(ctx, a, fmt.Sprint("a", i)))
		}
		add(ctx, b, "b0")
		add(ctx, b, "b1")
		if err := repo.DeleteTracker(ctx, a, ids[0]); err != nil {
			t.Fatal(err)
		}
		count := func(ctx context.Context, tenant int64) int64 {
			t.Helper()
			n, err := repo.CountTrackers(ctx, tenant)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		all, err := repo.PageTrackers(ctx, a, 0, 0)
		if err != nil || len(all) != 3 || count(ctx, a) != 3 {
			t.Fatalf("tenant A: %d live trackers listed, %d counted (%v); want 3", len(all), count(ctx, a), err)
		}
		if n := count(ctx, b); n != 2 {
			t.Fatalf("tenant B: %d counted, want 2", n)
		}
		if n := count(ctx, 999999); n != 0 {
			t.Fatalf("no such tenant: %d counted", n)
		}

		rollback := errs.Conflict("roll back")
		err = tx.InTx(ctx, func(ctx context.Context) error {
			add(ctx, a, "in tx")
			if n := count(ctx, a); n != 4 {
				t.Errorf("in the transaction: %d counted, want 4", n)
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatalf("the transaction: %v", err)
		}
		if n := count(ctx, a); n != 3 {
			t.Fatalf("after the rollback: %d counted, want 3", n)
		}
	})
}

// Webhooks.List gives with every page the subscriptions of the same scope
// over all pages: an app's own, or the whole tenant's for app 0.
func TestWebhookListTotals(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, apps := dao.NewWebhooks(db), dao.NewApps(db)
		app := func(tenant int64, name string, subs int) int64 {
			t.Helper()
			a := model.App{TenantID: tenant, Name: name, AppKey: fmt.Sprint("ak_", name, tenant), SecretHash: "x", Scopes: "read", Status: model.AppActive}
			if err := apps.Create(ctx, &a); err != nil {
				t.Fatal(err)
			}
			for i := range subs {
				s := model.WebhookSubscription{TenantID: tenant, AppID: a.ID, URL: fmt.Sprintf("https://r.example/%s/%d", name, i),
					EventTypes: "transcript.ready", SecretSealed: "v1:x", Status: model.WebhookActive}
				if err := w.Create(ctx, &s, 20); err != nil {
					t.Fatal(err)
				}
			}
			return a.ID
		}
		crm, erp := app(1, "crm", 3), app(1, "erp", 2)
		app(2, "crm", 4)
		for _, c := range []struct {
			tenant, app int64
			want        int64
		}{{1, crm, 3}, {1, erp, 2}, {1, 0, 5}, {2, 0, 4}, {2, crm, 0}, {3, 0, 0}} {
			var seen, after int64
			for pages := 0; ; pages++ {
				page, total, err := w.List(ctx, c.tenant, c.app, after, 2)
				if err != nil || total != c.want {
					t.Fatalf("tenant %d app %d, page %d: total %d (%v), want %d", c.tenant, c.app, pages+1, total, err, c.want)
				}
				seen += int64(len(page))
				if len(page) < 2 {
					break
				}
				after = page[len(page)-1].ID
			}
			if seen != c.want {
				t.Fatalf("tenant %d app %d: the pages held %d, the total says %d", c.tenant, c.app, seen, c.want)
			}
		}
	})
}
