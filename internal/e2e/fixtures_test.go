//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// Fixture is a tenant with an org tree written straight into a migrated
// database: sales (manager M, reps R1 and R2) with a sub-team east (rep R3),
// support (rep R4), an admin, and an app with every scope.
//
//	/sales/       M, R1, R2
//	/sales/east/  R3
//	/support/     R4
type Fixture struct {
	DB        *gorm.DB
	Tenant    model.Tenant
	Sales     model.Department
	East      model.Department
	Support   model.Department
	Admin     model.User
	Manager   model.User
	Reps      []model.User // R1, R2, R3, R4
	App       model.App
	AppSecret string
	Password  string
	tokens    *identity.Tokens
}

// fixturePassword is every fixture user's password; it must never be logged.
const fixturePassword = "correct horse battery staple"

// testJWTSecret is auth.jwt_secret of config/config_test.toml.
const testJWTSecret = "dev-only-secret-change-me-0123456789abcdef"

// testChainSealer seals audit chains as the service does with
// config/config_test.toml: audit.chain_key empty, derived from the JWT
// secret.
var testChainSealer = audit.NewSealer((&config.Config{Auth: config.Auth{JWTSecret: testJWTSecret}}).AuditChainKey())

// NewFixture migrates the database of s (sqlite or mysql per its env) and
// writes a tenant into it. Call before s.Start or after: both work.
func NewFixture(t *testing.T, s *Service) *Fixture {
	t.Helper()
	db := daotest.Connect(t, s.Env["MGV_DATABASE_DRIVER"], s.Env["MGV_DATABASE_DSN"])
	f := &Fixture{DB: db, Password: fixturePassword, tokens: identity.NewTokens(testJWTSecret, 15*time.Minute, 2*time.Hour)}
	now := time.Now().UTC()
	tag := fmt.Sprintf("%08x", rand.Uint32())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	f.Tenant = model.Tenant{Name: "Acme " + tag, Timezone: "Asia/Shanghai", RateTier: "standard", CreatedAt: now, UpdatedAt: now}
	must(db.Create(&f.Tenant).Error)
	dept := func(name string, parent *model.Department) model.Department {
		d := model.Department{TenantID: f.Tenant.ID, Name: name, CreatedAt: now, UpdatedAt: now}
		if parent != nil {
			d.ParentID = &parent.ID
		}
		must(db.Create(&d).Error)
		d.Path = fmt.Sprintf("/%d/", d.ID)
		if parent != nil {
			d.Path = fmt.Sprintf("%s%d/", parent.Path, d.ID)
		}
		must(db.Model(&d).Update("path", d.Path).Error)
		return d
	}
	f.Sales = dept("Sales", nil)
	f.East = dept("East", &f.Sales)
	f.Support = dept("Support", nil)
	hash, err := bcrypt.GenerateFromPassword([]byte(f.Password), bcrypt.MinCost)
	must(err)
	user := func(name, role string, d *model.Department) model.User {
		email := fmt.Sprintf("%s.%s@test.mgv", name, tag)
		u := model.User{TenantID: f.Tenant.ID, Name: name, Email: &email, Role: role, Status: model.UserActive,
			PasswordHash: string(hash), CreatedAt: now, UpdatedAt: now}
		if d != nil {
			u.DepartmentID = &d.ID
		}
		must(db.Create(&u).Error)
		return u
	}
	f.Admin = user("admin", model.RoleAdmin, nil)
	f.Manager = user("manager", model.RoleManager, &f.Sales)
	f.Reps = []model.User{
		user("rep1", model.RoleRep, &f.Sales),
		user("rep2", model.RoleRep, &f.Sales),
		user("rep3", model.RoleRep, &f.East),
		user("rep4", model.RoleRep, &f.Support),
	}
	f.AppSecret = "secret-" + tag
	secretHash, err := bcrypt.GenerateFromPassword([]byte(f.AppSecret), bcrypt.MinCost)
	must(err)
	f.App = model.App{TenantID: f.Tenant.ID, Name: "CRM " + tag, AppKey: "ak_" + tag, SecretHash: string(secretHash),
		Scopes: "ingest read search org", RateTier: "standard", CreatedAt: now}
	must(db.Create(&f.App).Error)
	return f
}

// Token mints an access token for u as the service would at login.
func (f *Fixture) Token(t *testing.T, u model.User) string {
	t.Helper()
	path := ""
	if u.DepartmentID != nil {
		var d model.Department
		if err := f.DB.First(&d, *u.DepartmentID).Error; err != nil {
			t.Fatal(err)
		}
		path = d.Path
	}
	v, err := dao.NewTokenVersions(f.DB).Current(context.Background(), model.TokenVersionUser, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.tokens.IssueAccess(&u, path, f.Tenant.RateTier, v.Version)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// AppToken mints an app token for the fixture's app.
// secondApp stores another app of the tenant, named name, with the
// fixture app's secret and the ingest scope, as its admin may create one.
func (f *Fixture) secondApp(t *testing.T, name string) model.App {
	t.Helper()
	app := model.App{TenantID: f.Tenant.ID, Name: name, AppKey: "ak_" + name + "_" + f.App.AppKey, SecretHash: f.App.SecretHash,
		Scopes: "ingest", RateTier: "standard", Status: model.AppActive, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := f.DB.Create(&app).Error; err != nil {
		t.Fatal(err)
	}
	return app
}

func (f *Fixture) AppToken(t *testing.T) string {
	t.Helper()
	v, err := dao.NewTokenVersions(f.DB).Current(context.Background(), model.TokenVersionApp, f.App.ID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.tokens.IssueApp(&f.App, v.Version)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
