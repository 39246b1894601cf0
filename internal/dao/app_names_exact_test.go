package dao_test

import (
	"slices"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// A tenant's app names are unique as they are looked up, byte for byte
// once trimmed, on both engines: "crm" and "Cafe" are apps of their own
// next to "CRM" and "Café", created, renamed to and found by their names,
// while "CRM" again, or " CRM ", is the app CRM's. MariaDB's collation
// refused them as another app's name, and the demo seed's lookup of "crm"
// gave CRM a new secret.
func TestAppNamesAreUniqueByteForByte(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := openOrgStoreOn(t, db)
		tenant, admin := s.tenant(t, "Acme")
		repo := dao.NewApps(db)
		apps := identity.NewApps(identity.AppsDeps{Apps: repo, Tenants: dao.NewTenants(db), Tx: dao.NewTransactor(db), Hasher: identity.NewBcrypt(bcrypt.MinCost)})
		names := []string{"CRM", "crm", "Café", "Cafe"}
		ids := map[string]int64{}
		for _, name := range names {
			a, err := apps.Create(admin, identity.CreateAppRequest{Name: name, Scopes: []string{"read"}})
			if err != nil {
				t.Fatalf("app %q next to %v: %v", name, ids, err)
			}
			ids[name] = a.App.ID
		}
		for _, name := range []string{"CRM", " CRM ", "Café"} {
			_, err := apps.Create(admin, identity.CreateAppRequest{Name: name, Scopes: []string{"read"}})
			if e := errs.From(err); e.Reason != errs.ReasonAlreadyExists || e.Field() != "name" {
				t.Errorf("a second app %q: %v; want ALREADY_EXISTS naming name", name, err)
			}
		}
		renamed := "CAFE"
		if _, err := apps.Update(admin, identity.UpdateAppRequest{ID: ids["Cafe"], Name: &renamed}); err != nil {
			t.Fatalf("rename Cafe to CAFE: %v", err)
		}
		ids["CAFE"] = ids["Cafe"]
		delete(ids, "Cafe")
		for name, id := range ids {
			if a, err := repo.ByName(t.Context(), tenant, name); err != nil || a.ID != id || a.Name != name {
				t.Errorf("by name %q: %+v, %v; want app %d", name, a, err, id)
			}
		}
		if _, err := repo.ByName(t.Context(), tenant, "Cafe"); !errs.IsNotFound(err) {
			t.Errorf("by name Cafe after its rename: %v; want NOT_FOUND", err)
		}
		// The demo seed's lookup finds the app of its exact name only.
		crm, err := repo.ByID(t.Context(), tenant, ids["CRM"])
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.provision.EnsureApp(t.Context(), identity.NewApp{TenantID: tenant, Name: "crm", RotateSecret: true})
		if err != nil || got.App.ID != ids["crm"] {
			t.Fatalf("ensure crm: %+v, %v; want app %d", got, err, ids["crm"])
		}
		if after, err := repo.ByID(t.Context(), tenant, crm.ID); err != nil || after.SecretHash != crm.SecretHash {
			t.Errorf("ensuring crm gave CRM a new secret: %v", err)
		}
		// The key itself refuses the same bytes.
		dup := &model.App{TenantID: tenant, Name: "crm", AppKey: "ak_dup", Status: model.AppActive}
		if err := repo.Create(t.Context(), dup); !errs.IsAlreadyExists(err) {
			t.Errorf("a second row of crm: %v; want ALREADY_EXISTS", err)
		}
	})
}

// A database at 0029 with apps is upgraded by 0030: each app keeps its
// name's bytes and is found by it, and a name the collation took for a
// stored one is another app's, which the key of 0029 refused.
func TestAppNamesExactUpgradeOnMariaDB(t *testing.T) {
	ctx := t.Context()
	db := daotest.OpenMariaDB(t, daotest.Unmigrated)
	migrateTo(t, db, 29)
	if err := db.Exec("INSERT INTO apps (id, tenant_id, name, app_key) VALUES (5, 7, 'CRM', 'ak_1'), (6, 7, 'Café', 'ak_2'), (7, 8, 'crm', 'ak_3')").Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("INSERT INTO apps (tenant_id, name, app_key) VALUES (7, 'crm', 'ak_4')").Error; err == nil {
		t.Fatal("0029 took crm next to CRM: the test no longer shows what 0030 changes")
	}
	before := snapshot(t, db, []string{"apps"})
	applied, err := dao.NewMigrator(db).Up(ctx)
	if err != nil || !slices.Equal(versions(applied), []int{30, 31, 32}) {
		t.Fatalf("up: %v %v", applied, err)
	}
	if after := snapshot(t, db, []string{"apps"}); !slices.EqualFunc(before["apps"], after["apps"], slices.Equal) {
		t.Errorf("apps changed:\nbefore %v\nafter  %v", before["apps"], after["apps"])
	}
	repo := dao.NewApps(db)
	for name, id := range map[string]int64{"CRM": 5, "Café": 6} {
		if a, err := repo.ByName(ctx, 7, name); err != nil || a.ID != id {
			t.Errorf("by name %q: %+v, %v; want app %d", name, a, err, id)
		}
	}
	for _, name := range []string{"crm", "Cafe"} {
		if err := repo.Create(ctx, &model.App{TenantID: 7, Name: name, AppKey: "ak_" + name, Status: model.AppActive}); err != nil {
			t.Errorf("app %q next to the stored ones: %v", name, err)
		}
	}
	if err := repo.Create(ctx, &model.App{TenantID: 7, Name: "CRM", AppKey: "ak_again", Status: model.AppActive}); !errs.IsAlreadyExists(err) {
		t.Errorf("a second app CRM: %v; want ALREADY_EXISTS", err)
	}
}
