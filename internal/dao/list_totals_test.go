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
