package dao_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// accountTwins are emails (as stored: trimmed and lower-cased) that differ
// from rep1@org.test only in what MySQL's utf8mb4_unicode_ci does not see:
// an accent, a fullwidth letter, an accent in the domain.
var accountTwins = []string{"rép1@org.test", "ｒep1@org.test", "rep1@órg.test"}

// Emails and phones are unique as they are looked up, byte for byte once
// normalised, on both engines: an address that differs from a user's only
// by an accent or a letter's width is another account, which its own user
// signs in with, while the same address in capitals or with spaces is the
// user's (it is lower-cased and trimmed first). A phone an earlier release
// stored as typed, in fullwidth digits, which no lookup finds, does not
// keep a user from the number. MariaDB's collation refused them all as
// another user's account.
func TestAccountsAreUniqueByteForByte(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := openOrgStoreOn(t, db)
		tenant, admin := s.tenant(t, "Acme")
		rep, err := s.org.CreateUser(admin, identity.CreateUserRequest{Name: "rep1", Email: "rep1@org.test", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		ids := []int64{rep.ID}
		for i, email := range accountTwins {
			u, err := s.org.CreateUser(admin, identity.CreateUserRequest{Name: fmt.Sprint("twin ", i), Email: email, Password: "correct horse battery"})
			if err != nil {
				t.Fatalf("a user of %q next to rep1@org.test: %v", email, err)
			}
			ids = append(ids, u.ID)
		}
		for i, email := range append([]string{"rep1@org.test"}, accountTwins...) {
			if u, err := s.users.ByEmail(t.Context(), email); err != nil || u.ID != ids[i] || u.Email == nil || *u.Email != email {
				t.Errorf("by email %q: %+v, %v; want user %d", email, u, err, ids[i])
			}
		}
		for _, email := range []string{"REP1@org.test", " rep1@org.test ", "RÉP1@ORG.TEST"} {
			_, err := s.org.CreateUser(admin, identity.CreateUserRequest{Name: "again", Email: email, Password: "correct horse battery"})
			if e := errs.From(err); e.Reason != errs.ReasonAlreadyExists || e.Field() != "email" {
				t.Errorf("a user of %q: %v; want ALREADY_EXISTS naming email", email, err)
			}
		}
		// The key itself refuses the same bytes.
		now := time.Now().UTC()
		same := accountTwins[1]
		dup := &model.User{TenantID: tenant, Name: "dup", Email: &same, Role: model.RoleRep, Status: model.UserActive, CreatedAt: now, UpdatedAt: now}
		if err := s.users.Create(t.Context(), dup); errs.From(err).Field() != "email" {
			t.Errorf("a second row of %q: %v; want ALREADY_EXISTS naming email", same, err)
		}

		legacy := "＋８６１３８００１３８０００"
		old := &model.User{TenantID: tenant, Name: "legacy", Phone: &legacy, Role: model.RoleRep, Status: model.UserActive, CreatedAt: now, UpdatedAt: now}
		if err := s.users.Create(t.Context(), old); err != nil {
			t.Fatal(err)
		}
		u, err := s.org.CreateUser(admin, identity.CreateUserRequest{Name: "new number", Phone: "138 0013 8000", Password: "correct horse battery"})
		if err != nil {
			t.Fatalf("a user of +8613800138000 next to %q: %v", legacy, err)
		}
		if got, err := s.users.ByPhone(t.Context(), "+8613800138000"); err != nil || got.ID != u.ID {
			t.Errorf("by phone +8613800138000: %+v, %v; want user %d", got, err, u.ID)
		}
		if got, err := s.users.ByPhones(t.Context(), []string{legacy}); err != nil || len(got) != 1 || got[0].ID != old.ID {
			t.Errorf("by phone %q: %+v, %v; want user %d", legacy, got, err, old.ID)
		}
		_, err = s.org.CreateUser(admin, identity.CreateUserRequest{Name: "same number", Phone: "+86 138 0013 8000", Password: "correct horse battery"})
		if e := errs.From(err); e.Reason != errs.ReasonAlreadyExists || e.Field() != "phone" {
			t.Errorf("a second user of +8613800138000: %v; want ALREADY_EXISTS naming phone", err)
		}
	})
}

// A database at 0028 with users is upgraded by 0029: every user keeps the
// bytes of their email and phone and is found by them, the keys still
// refuse the same bytes, and an address the collation took for a stored
// one is another account, which the keys of 0028 refused.
func TestAccountsExactUpgradeOnMariaDB(t *testing.T) {
	ctx := t.Context()
	db := daotest.OpenMariaDB(t, daotest.Unmigrated)
	migrateTo(t, db, 28)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := db.Exec("INSERT INTO users (id, tenant_id, name, email, phone, created_at, updated_at) VALUES "+
		"(11, 7, 'Zhang', 'zs@example.com', '+8613800138000', ?, ?), (12, 7, 'Lí', 'lí.na@démo.mgv', '13800138001', ?, ?), (13, 7, 'None', NULL, NULL, ?, ?)",
		now, now, now, now, now, now).Error; err != nil {
		t.Fatal(err)
	}
	// The keys of 0028 take li.na@demo.mgv for lí.na@démo.mgv.
	if err := db.Exec("INSERT INTO users (tenant_id, name, email) VALUES (7, 'Li', 'li.na@demo.mgv')").Error; err == nil {
		t.Fatal("0028 took li.na@demo.mgv next to lí.na@démo.mgv: the test no longer shows what 0029 changes")
	}
	before := snapshot(t, db, []string{"users"})
	applied, err := dao.NewMigrator(db).Up(ctx)
	if err != nil || !slices.Equal(versions(applied), []int{29, 30, 31, 32}) {
		t.Fatalf("up: %v %v", applied, err)
	}
	if after := snapshot(t, db, []string{"users"}); !slices.EqualFunc(before["users"], after["users"], slices.Equal) {
		t.Errorf("users changed:\nbefore %v\nafter  %v", before["users"], after["users"])
	}
	var types []string
	if err := db.Raw("SELECT column_type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'users' AND column_name IN ('email', 'phone') ORDER BY column_name").
		Scan(&types).Error; err != nil || !slices.Equal(types, []string{"varbinary(1020)", "varbinary(128)"}) {
		t.Fatalf("column types: %v %v", types, err)
	}
	users := dao.NewUsers(db)
	for email, id := range map[string]int64{"zs@example.com": 11, "lí.na@démo.mgv": 12} {
		if u, err := users.ByEmail(ctx, email); err != nil || u.ID != id {
			t.Errorf("by email %q: %+v, %v; want user %d", email, u, err, id)
		}
	}
	if u, err := users.ByPhone(ctx, "13800138001"); err != nil || u.ID != 12 {
		t.Errorf("by phone 13800138001: %+v, %v; want user 12", u, err)
	}
	email, phone := "li.na@demo.mgv", "＋８６１３８００１３８０００"
	twin := &model.User{TenantID: 7, Name: "Li", Email: &email, Phone: &phone, Role: model.RoleRep, Status: model.UserActive, CreatedAt: now, UpdatedAt: now}
	if err := users.Create(ctx, twin); err != nil {
		t.Fatalf("li.na@demo.mgv next to lí.na@démo.mgv: %v", err)
	}
	stored, storedPhone := "zs@example.com", "13800138001"
	for field, u := range map[string]*model.User{
		"email": {TenantID: 7, Name: "dup", Email: &stored, CreatedAt: now, UpdatedAt: now},
		"phone": {TenantID: 7, Name: "dup", Phone: &storedPhone, CreatedAt: now, UpdatedAt: now},
	} {
		if err := users.Create(ctx, u); errs.From(err).Field() != field {
			t.Errorf("a second row of a stored %s: %v; want ALREADY_EXISTS naming it", field, err)
		}
	}
}
