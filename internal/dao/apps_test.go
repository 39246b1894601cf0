package dao_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// Apps page by id within their tenant, each page with the tenant's apps
// over all pages as its total (in the transaction of ctx, when there is
// one), and CountLocked holds a second counter of the same tenant until
// the first one's transaction ends, then counts what it inserted.
func TestAppsPageAndCountUnderTheTenantLock(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		apps, tx := dao.NewApps(db), dao.NewTransactor(db)
		tenants := []model.Tenant{{Name: "A"}, {Name: "B"}}
		if err := db.Create(&tenants).Error; err != nil {
			t.Fatal(err)
		}
		a, b := tenants[0].ID, tenants[1].ID
		add := func(tenant int64, name string) *model.App {
			t.Helper()
			app := &model.App{TenantID: tenant, Name: name, AppKey: "ak_" + name + fmt.Sprint(tenant), Status: model.AppActive}
			if err := apps.Create(ctx, app); err != nil {
				t.Fatal(err)
			}
			return app
		}
		var ids []int64
		for i := range 3 {
			ids = append(ids, add(a, fmt.Sprint("a", i)).ID)
			add(b, fmt.Sprint("b", i))
		}
		add(b, "b3")
		page, total, err := apps.List(ctx, a, 0, 2)
		if err != nil || len(page) != 2 || page[0].ID != ids[0] || page[1].ID != ids[1] || total != 3 {
			t.Fatalf("first page: %+v, total %d, %v", page, total, err)
		}
		if page, total, err = apps.List(ctx, a, ids[1], 2); err != nil || len(page) != 1 || page[0].ID != ids[2] || total != 3 {
			t.Fatalf("last page: %+v, total %d, %v", page, total, err)
		}
		if page, total, err = apps.List(ctx, b, 0, 1); err != nil || len(page) != 1 || total != 4 {
			t.Fatalf("the other tenant: %d apps, total %d, %v", len(page), total, err)
		}
		// Inside a transaction the page and its total see what it wrote;
		// rolled back, the app is gone from both.
		rollback := errs.Conflict("roll back")
		err = tx.InTx(ctx, func(ctx context.Context) error {
			if err := apps.Create(ctx, &model.App{TenantID: a, Name: "tx", AppKey: fmt.Sprint("ak_tx_", a), Status: model.AppActive}); err != nil {
				return err
			}
			page, total, err := apps.List(ctx, a, ids[2], 10)
			if err != nil || len(page) != 1 || total != 4 {
				t.Errorf("in the transaction: %d apps after the last, total %d, %v", len(page), total, err)
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatalf("the transaction: %v", err)
		}
		if page, total, err = apps.List(ctx, a, 0, 10); err != nil || len(page) != 3 || total != 3 {
			t.Fatalf("after the rollback: %d apps, total %d, %v", len(page), total, err)
		}

		if _, err := apps.CountLocked(ctx, a); errs.ReasonOf(err) != errs.ReasonInternal {
			t.Fatalf("outside a transaction: %v", err)
		}
		err = tx.InTx(ctx, func(ctx context.Context) error {
			_, err := apps.CountLocked(ctx, 999999)
			return err
		})
		if !errs.Is(err, errs.ReasonTenantNotFound) {
			t.Fatalf("an unknown tenant: %v", err)
		}

		// The first transaction counts 3 and inserts a fourth; the second
		// waits for it and counts 4.
		counted, release := make(chan int64, 1), make(chan struct{})
		first, second := make(chan error, 1), make(chan error, 1)
		ended := false
		end := func() {
			if !ended {
				ended = true
				close(release)
			}
		}
		defer end() // a failure below must not leave the first transaction open
		go func() {
			first <- tx.InTx(ctx, func(ctx context.Context) error {
				n, err := apps.CountLocked(ctx, a)
				counted <- n
				if err != nil {
					return err
				}
				err = apps.Create(ctx, &model.App{TenantID: a, Name: "a3", AppKey: fmt.Sprint("ak_a3_", a), Status: model.AppActive})
				<-release
				return err
			})
		}()
		if n := <-counted; n != 3 {
			end()
			t.Fatalf("the first count: %d (%v)", n, <-first)
		}
		var got int64
		go func() {
			second <- tx.InTx(ctx, func(ctx context.Context) error {
				var err error
				got, err = apps.CountLocked(ctx, a)
				return err
			})
		}()
		select {
		case err := <-second:
			t.Fatalf("the second count did not wait for the first transaction: %d %v", got, err)
		case <-time.After(300 * time.Millisecond):
		}
		end()
		if err := <-first; err != nil {
			t.Fatalf("the first transaction: %v", err)
		}
		select {
		case err := <-second:
			if err != nil || got != 4 {
				t.Fatalf("the second count: %d %v, want 4", got, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the second count still waits after the first transaction ended")
		}
	})
}

// Two admins change one app at once, each from its own read of it: a
// disable and a cut of the scopes both stay, whichever is written last.
func TestAppUpdateKeepsAConcurrentChange(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		apps := dao.NewApps(db)
		tenant := model.Tenant{Name: "A"}
		if err := db.Create(&tenant).Error; err != nil {
			t.Fatal(err)
		}
		for i, disableFirst := range []bool{true, false} {
			app := &model.App{TenantID: tenant.ID, Name: fmt.Sprint("app", i), AppKey: fmt.Sprint("ak_race", i), Scopes: "ingest read", Status: model.AppActive}
			if err := apps.Create(ctx, app); err != nil {
				t.Fatal(err)
			}
			disabled, rescoped := *app, *app
			disabled.Status, rescoped.Scopes = model.AppDisabled, "read"
			writes := []func() error{
				func() error { return apps.Update(ctx, app, &disabled) },
				func() error { return apps.Update(ctx, app, &rescoped) },
			}
			if !disableFirst {
				writes[0], writes[1] = writes[1], writes[0]
			}
			for _, w := range writes {
				if err := w(); err != nil {
					t.Fatal(err)
				}
			}
			got, err := apps.ByID(ctx, tenant.ID, app.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != model.AppDisabled || got.Scopes != "read" {
				t.Fatalf("disable first %v: the app is %s with scopes %q, want disabled with %q", disableFirst, got.Status, got.Scopes, "read")
			}
		}
	})
}

// Two rotations from one read of an app: the first writes its secrets,
// the second finds the secret it read gone and writes nothing.
func TestAppSetSecretRefusesARotationFromAnOlderSecret(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		apps := dao.NewApps(db)
		tenant := model.Tenant{Name: "A"}
		if err := db.Create(&tenant).Error; err != nil {
			t.Fatal(err)
		}
		app := &model.App{TenantID: tenant.ID, Name: "app", AppKey: "ak_rotate", SecretHash: "s0", Scopes: "read", Status: model.AppActive}
		if err := apps.Create(ctx, app); err != nil {
			t.Fatal(err)
		}
		until := time.Now().Add(time.Hour)
		first, second := *app, *app
		first.SecretHash = "s1"
		second.SecretHash, second.OldSecretHash, second.OldSecretUntil = "s2", "s0", &until
		if err := apps.SetSecret(ctx, app, &first); err != nil {
			t.Fatal(err)
		}
		if err := apps.SetSecret(ctx, app, &second); !errs.IsConflict(err) {
			t.Fatalf("a rotation from the secret another one replaced: %v, want CONFLICT", err)
		}
		got, err := apps.ByID(ctx, tenant.ID, app.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SecretHash != "s1" || got.OldSecretHash != "" {
			t.Fatalf("secret %q, old secret %q; want s1 and none", got.SecretHash, got.OldSecretHash)
		}
		gone := first
		gone.ID++
		if err := apps.SetSecret(ctx, &gone, &gone); errs.ReasonOf(err) != errs.ReasonAppNotFound {
			t.Fatalf("an unknown app: %v", err)
		}
	})
}
