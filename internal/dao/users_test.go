package dao_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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
	return openOrgStoreOn(t, daotest.Open(t))
}

func openOrgStoreOn(t *testing.T, db *gorm.DB) *orgStore {
	t.Helper()
	s := &orgStore{db: db, users: dao.NewUsers(db), deps: dao.NewDepartments(db), refresh: dao.NewRefreshTokens(db)}
	hasher := identity.NewBcrypt(bcrypt.MinCost)
	s.org = identity.NewOrg(identity.OrgDeps{Users: s.users, Departments: s.deps, Tenants: dao.NewTenants(db), Refresh: s.refresh, Hasher: hasher})
	s.provision = identity.NewProvision(identity.ProvisionDeps{Tenants: dao.NewTenants(db), Apps: dao.NewApps(db), Users: s.users, Hasher: hasher, Tx: dao.NewTransactor(db)})
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
	// Two changes from the same read: each writes only what it changed,
	// so the second (a rename) keeps the first (a disable).
	read := *rep
	disabled, renamed := read, read
	disabled.Status = model.UserDisabled
	renamed.Name = "renamed"
	for _, u := range []*model.User{&disabled, &renamed} {
		if err := s.users.Update(t.Context(), &read, u); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.users.ByID(t.Context(), tenant, rep.ID); err != nil || got.Status != model.UserDisabled || got.Name != "renamed" || got.Email == nil || *got.Email != email {
		t.Fatalf("after a disable and a rename from one read: %+v, %v", got, err)
	}
	other := renamed
	other.TenantID++
	if err := s.users.Update(t.Context(), &renamed, &other); errs.From(err).Reason != "USER_NOT_FOUND" {
		t.Fatalf("update across tenants: %v", err)
	}
}

// A move under the department's own descendant is refused by logic
// (internal/logic/identity), and by the store under the tree lock should
// logic have read a stale tree.
func TestDepartmentStoreRefusesACycleOnSQLite(t *testing.T) {
	s := openOrgStore(t)
	_, admin := s.tenant(t, "Acme")
	b := s.department(t, admin, "b", "")
	d := s.department(t, admin, "d", "b")
	if _, err := s.deps.Update(t.Context(), b, d); !errs.IsConflict(err) {
		t.Fatalf("cycle in the store: %v", err)
	}
}

// lookupBarrier lets neither of the first two lookups of an email, phone or
// origin id answer until both have been made: two requests both find the
// value free, and the unique key decides between them.
type lookupBarrier struct {
	*dao.Users
	calls   atomic.Int32
	arrived sync.WaitGroup
}

func (b *lookupBarrier) wait() {
	if b.calls.Add(1) > 2 {
		return
	}
	b.arrived.Done()
	done := make(chan struct{})
	go func() { b.arrived.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

func (b *lookupBarrier) ByEmail(ctx context.Context, email string) (*model.User, error) {
	u, err := b.Users.ByEmail(ctx, email)
	b.wait()
	return u, err
}

func (b *lookupBarrier) ByPhones(ctx context.Context, phones []string) ([]model.User, error) {
	u, err := b.Users.ByPhones(ctx, phones)
	b.wait()
	return u, err
}

func (b *lookupBarrier) ByOrigin(ctx context.Context, tenantID int64, origin string) (*model.User, error) {
	u, err := b.Users.ByOrigin(ctx, tenantID, origin)
	b.wait()
	return u, err
}

// Two admins creating users of one email or phone at once both find it
// free; the one the unique key refuses is told which field is taken, on
// either database (whose keys are named differently).
func TestConcurrentUsersOfOneValueNameTheField(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := openOrgStoreOn(t, db)
		_, admin := s.tenant(t, "Acme")
		race := func(t *testing.T, field string, create func(org *identity.Org, i int) error) {
			t.Helper()
			barrier := &lookupBarrier{Users: s.users}
			barrier.arrived.Add(2)
			org := identity.NewOrg(identity.OrgDeps{Users: barrier, Departments: s.deps, Tenants: dao.NewTenants(db), Refresh: s.refresh,
				Hasher: identity.NewBcrypt(bcrypt.MinCost)})
			errc := make(chan error, 2)
			for i := range 2 {
				go func() { errc <- create(org, i) }()
			}
			var refused []error
			for range 2 {
				if err := <-errc; err != nil {
					refused = append(refused, err)
				}
			}
			if len(refused) != 1 {
				t.Fatalf("%s: %d of 2 refused: %v", field, len(refused), refused)
			}
			if e := errs.From(refused[0]); e.Reason != errs.ReasonAlreadyExists || e.Field() != field || e.Metadata["field"] != field {
				t.Fatalf("%s: the loser got %v (field %q)", field, refused[0], e.Field())
			}
		}
		race(t, "email", func(org *identity.Org, i int) error {
			_, err := org.CreateUser(admin, identity.CreateUserRequest{Name: fmt.Sprint("e", i), Email: "same@org.test", Password: "correct horse battery"})
			return err
		})
		race(t, "phone", func(org *identity.Org, i int) error {
			_, err := org.CreateUser(admin, identity.CreateUserRequest{Name: fmt.Sprint("p", i), Phone: "+8613800138000", Password: "correct horse battery"})
			return err
		})
		// A partner's two upserts of one origin id: the one refused
		// updates the user the other created; the store names the field.
		u := s.user(t, admin, "partner-1", model.RoleRep, "")
		dup := *u
		dup.ID, dup.Email = 0, nil
		if err := s.users.Create(t.Context(), &dup); errs.From(err).Field() != "origin_user_id" {
			t.Fatalf("a second user of one origin id: %v", err)
		}
	})
}

// A duplicate key's driver message quotes the row's values ("Duplicate
// entry 'x@org.test' for key …" on MariaDB). The database error gorm's
// plugins see (the tracing plugin records it on the statement's span)
// reads as the translation, without them, while the user store still
// names the field from the key.
func TestADuplicateKeyErrorQuotesNoValue(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := openOrgStoreOn(t, db)
		_, admin := s.tenant(t, "Acme")
		u := s.user(t, admin, "quoted", model.RoleRep, "")
		var seen []string
		err := db.Callback().Create().After("gorm:create").Register("test:seen", func(tx *gorm.DB) {
			if tx.Error != nil {
				seen = append(seen, tx.Error.Error())
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		dup := *u
		dup.ID, dup.OriginUserID = 0, nil
		if err := s.users.Create(t.Context(), &dup); errs.From(err).Field() != "email" {
			t.Fatalf("a second user of one email: %v", err)
		}
		if len(seen) != 1 {
			t.Fatalf("database errors seen: %q", seen)
		}
		if strings.Contains(seen[0], *u.Email) {
			t.Errorf("the database error quotes the email: %q", seen[0])
		}
	})
}
