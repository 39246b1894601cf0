package dao_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// The tenant's last active admin cannot be erased: anonymising would
// disable them. With a second active admin, either may be.
func TestErasureKeepsAnAdmin(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		users, p := dao.NewUsers(db), dao.NewPrivacy(db)
		admin := model.User{TenantID: 3, Name: "only admin", Role: model.RoleAdmin, Status: model.UserActive}
		if err := users.Create(ctx, &admin); err != nil {
			t.Fatal(err)
		}
		if err := p.AnonymiseUser(ctx, 3, admin.ID); !errs.Is(err, errs.ReasonLastAdmin) {
			t.Fatalf("erasing the last admin: %v, want LAST_ADMIN", err)
		}
		if u, err := users.ByID(ctx, 3, admin.ID); err != nil || u.Status != model.UserActive || u.Name != "only admin" {
			t.Fatalf("the last admin after a refused erasure: %+v %v", u, err)
		}
		second := model.User{TenantID: 3, Name: "second admin", Role: model.RoleAdmin, Status: model.UserActive}
		if err := users.Create(ctx, &second); err != nil {
			t.Fatal(err)
		}
		if err := p.AnonymiseUser(ctx, 3, admin.ID); err != nil {
			t.Fatalf("erasing one of two admins: %v", err)
		}
		if err := p.KeepAnAdmin(ctx, 3, second.ID); !errs.Is(err, errs.ReasonLastAdmin) {
			t.Fatalf("the remaining admin: %v, want LAST_ADMIN", err)
		}
	})
}
