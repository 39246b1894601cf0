package dao_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// The org and auth stores on the embedded SQLite dialect, through the logic
// that uses them; internal/e2e runs the same paths on MariaDB.

type orgStore struct {
	db        *gorm.DB
	users     *dao.Users
	deps      *dao.Departments
	refresh   *dao.RefreshTokens
	org       *identity.Org
	provision *identity.Provision
}

func openOrgStore(t *testing.T) *orgStore {
	t.Helper()
	db := daotest.Open(t)
	s := &orgStore{db: db, users: dao.NewUsers(db), deps: dao.NewDepartments(db), refresh: dao.NewRefreshTokens(db)}
	hasher := identity.NewBcrypt(bcrypt.MinCost)
	s.org = identity.NewOrg(identity.OrgDeps{Users: s.users, Departments: s.deps, Tenants: dao.NewTenants(db), Refresh: s.refresh, Hasher: hasher})
	s.provision = identity.NewProvision(identity.ProvisionDeps{Tenants: dao.NewTenants(db), Apps: dao.NewApps(db), Users: s.users, Hasher: hasher})
	return s
}

// tenant creates a tenant and returns the context of its admin scope.
func (s *orgStore) tenant(t *testing.T, name string) (int64, context.Context) {
	t.Helper()
	tn, err := s.provision.CreateTenant(t.Context(), identity.NewTenant{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID, model.WithScope(t.Context(), model.Scope{TenantID: tn.ID, Role: model.RoleAdmin})
}

func (s *orgStore) department(t *testing.T, ctx context.Context, origin, parent string) *model.Department {
	t.Helper()
	d, _, err := s.org.UpsertDepartment(ctx, identity.UpsertDepartmentRequest{OriginDepartmentID: origin, Name: origin, OriginParentID: parent})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (s *orgStore) user(t *testing.T, ctx context.Context, origin, role, department string) *model.User {
	t.Helper()
	u, _, err := s.org.UpsertUser(ctx, identity.UpsertUserRequest{OriginUserID: origin, Name: origin, Email: origin + "@org.test", Role: role, OriginDepartmentID: department})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUsersListOnSQLite(t *testing.T) {
	s := openOrgStore(t)
	tenant, admin := s.tenant(t, "Acme")
	_, otherAdmin := s.tenant(t, "Other")
	sales := s.department(t, admin, "sales", "")
	east := s.department(t, admin, "east", "sales")
	s.department(t, admin, "support", "")
	manager := s.user(t, admin, "manager", model.RoleManager, "sales")
	rep1 := s.user(t, admin, "rep1", model.RoleRep, "sales")
	rep2 := s.user(t, admin, "rep2", model.RoleRep, "east")
	rep3 := s.user(t, admin, "rep3", model.RoleRep, "support")
	loner := s.user(t, admin, "loner", model.RoleRep, "")
	s.user(t, otherAdmin, "stranger", model.RoleAdmin, "")

	ids := func(us []model.User) []int64 {
		out := []int64{}
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	managerScope := model.Scope{TenantID: tenant, UserID: manager.ID, Role: model.RoleManager, DepartmentPath: sales.Path}
	tests := []struct {
		name  string
		scope model.Scope
		path  string
		want  []int64
	}{
		{"admin", model.Scope{TenantID: tenant, Role: model.RoleAdmin}, "", []int64{manager.ID, rep1.ID, rep2.ID, rep3.ID, loner.ID}},
		{"app", model.Scope{TenantID: tenant, Role: model.RoleApp}, "", []int64{manager.ID, rep1.ID, rep2.ID, rep3.ID, loner.ID}},
		{"manager", managerScope, "", []int64{manager.ID, rep1.ID, rep2.ID}},
		{"manager, east only", managerScope, east.Path, []int64{rep2.ID}},
		{"rep", model.Scope{TenantID: tenant, UserID: rep3.ID, Role: model.RoleRep}, "", []int64{rep3.ID}},
		{"rep, other subtree", model.Scope{TenantID: tenant, UserID: rep3.ID, Role: model.RoleRep}, sales.Path, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, total, err := s.users.List(t.Context(), tt.scope, tt.path, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(users); !slices.Equal(got, tt.want) || total != int64(len(tt.want)) {
				t.Fatalf("got %v (total %d), want %v", got, total, tt.want)
			}
			page, total, err := s.users.List(t.Context(), tt.scope, tt.path, orgFirstID(tt.want, 0), 1)
			if err != nil || total != int64(len(tt.want)) || (len(tt.want) > 1 && (len(page) != 1 || page[0].ID != tt.want[1])) {
				t.Fatalf("second page %v (total %d): %v", ids(page), total, err)
			}
		})
	}
}

func orgFirstID(v []int64, def int64) int64 {
	if len(v) == 0 {
		return def
	}
	return v[0]
}

func TestUsersUniqueKeysOnSQLite(t *testing.T) {
	s := openOrgStore(t)
	tenant, admin := s.tenant(t, "Acme")
	rep := s.user(t, admin, "rep", model.RoleRep, "")
	email := "rep@org.test"
	now := time.Now().UTC()
	dup := &model.User{TenantID: tenant, Name: "dup", Email: &email, Role: model.RoleRep, Status: model.UserActive, CreatedAt: now, UpdatedAt: now}
	if err := s.users.Create(t.Context(), dup); errs.From(err).Reason != errs.ReasonAlreadyExists {
		t.Fatalf("duplicate email: %v", err)
	}
	got, err := s.users.ByEmail(t.Context(), email)
	if err != nil || got.ID != rep.ID {
		t.Fatalf("by email: %+v, %v", got, err)
	}
	if _, err := s.users.ByID(t.Context(), tenant+1, rep.ID); errs.From(err).Reason != "USER_NOT_FOUND" {
		t.Fatalf("another tenant's id: %v", err)
	}
	rep.Status = model.UserDisabled
	if err := s.users.Update(t.Context(), rep); err != nil {
		t.Fatal(err)
	}
	rep.TenantID++
	if err := s.users.Update(t.Context(), rep); errs.From(err).Reason != "USER_NOT_FOUND" {
		t.Fatalf("update across tenants: %v", err)
	}
}

func TestDepartmentMovesRewriteTheSubtreeOnSQLite(t *testing.T) {
	s := openOrgStore(t)
	tenant, admin := s.tenant(t, "Acme")
	a := s.department(t, admin, "a", "")
	b := s.department(t, admin, "b", "a")
	c := s.department(t, admin, "c", "b")
	d := s.department(t, admin, "d", "c")
	x := s.department(t, admin, "x", "")
	// b and its subtree move under x.
	s.department(t, admin, "b", "x")
	paths := map[int64]string{}
	all, err := s.deps.List(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range all {
		paths[dep.ID] = dep.Path
	}
	want := map[int64]string{
		a.ID: fmt.Sprintf("/%d/", a.ID),
		b.ID: fmt.Sprintf("/%d/%d/", x.ID, b.ID),
		c.ID: fmt.Sprintf("/%d/%d/%d/", x.ID, b.ID, c.ID),
		d.ID: fmt.Sprintf("/%d/%d/%d/%d/", x.ID, b.ID, c.ID, d.ID),
		x.ID: fmt.Sprintf("/%d/", x.ID),
	}
	for id, p := range want {
		if paths[id] != p {
			t.Fatalf("department %d: path %q, want %q (all %v)", id, paths[id], p, paths)
		}
	}
	// Under its own descendant: refused by logic, and by the store under
	// the tree lock should logic have read a stale tree.
	_, _, err = s.org.UpsertDepartment(admin, identity.UpsertDepartmentRequest{OriginDepartmentID: "b", Name: "b", OriginParentID: "d"})
	if e := errs.From(err); e.Status != 400 || e.Metadata["field"] != "origin_parent_id" {
		t.Fatalf("cycle: %v", err)
	}
	bb, _ := s.deps.ByID(t.Context(), tenant, b.ID)
	dd, _ := s.deps.ByID(t.Context(), tenant, d.ID)
	if err := s.deps.Update(t.Context(), bb, dd); errs.From(err).Status != 409 {
		t.Fatalf("cycle in the store: %v", err)
	}
}
