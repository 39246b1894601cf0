package command

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/global"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/logic/tracker"
	"github.com/megaview/mgvcore/internal/model"
)

// demoAdminEmail is the demo tenant's admin account; it also identifies the
// demo tenant when the seed runs again.
const demoAdminEmail = "admin@demo.mgv"

func seedCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "seed",
		Usage: "load the demo tenant (org tree, users, an open-platform app, 200 conversations with transcripts) into the configured database; running it again updates the tenant in place",
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name: "password", EnvVars: []string{config.EnvSeedPassword}, Required: true,
				Usage: "password of every demo user, " + demoAdminEmail + " included (at least 8 characters)",
			},
			&cli.BoolFlag{Name: "rotate-app-secret", Usage: "give the existing demo app a new secret and print it"},
			&cli.BoolFlag{Name: "into-production", Usage: "load the demo tenant even though the config is pro"},
		},
		Action: func(c *cli.Context) error {
			return withDB(c, func(cfg *config.Config, db *gorm.DB) error {
				if cfg.App.Env == global.EnvPro && !c.Bool("into-production") {
					// The demo admin signs in with a password typed on a
					// command line, and its app's secret is printed.
					return fmt.Errorf("seed: the config is pro; the demo tenant (%s, an app whose secret is printed) does not belong in a production database; pass --into-production to load it anyway", demoAdminEmail)
				}
				ctx, cancel := context.WithTimeout(c.Context, 10*time.Minute)
				defer cancel()
				if err := seedSchema(ctx, db, cfg.Database.AutoMigrate); err != nil {
					return err
				}
				if err := identity.ValidatePassword(c.String("password")); err != nil {
					return errs.FieldNames{"password": "--password"}.Word(err)
				}
				s := newDemoSeed(db, c.String("password"), c.Bool("rotate-app-secret"))
				if err := s.run(ctx); err != nil {
					return err
				}
				return s.print(stdout)
			})
		},
	}
}

// seedSchema migrates where the config allows it (the dev default), else
// refuses a schema that is behind.
func seedSchema(ctx context.Context, db *gorm.DB, autoMigrate bool) error {
	m := dao.NewMigrator(db)
	if autoMigrate {
		_, err := m.Up(ctx)
		return err
	}
	pending, err := m.Pending(ctx)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return dao.ErrMigrationsPending
	}
	return nil
}

// demoSeed writes the demo tenant through the logic layer, step by step;
// each step may use what the earlier ones left in the struct, and every
// step is idempotent (origin ids, the admin account, the app's name), so a
// second run converges instead of duplicating.
type demoSeed struct {
	org       *identity.Org
	provision *identity.Provision
	ingest    *conversation.Ingest
	password  string
	rotate    bool

	tenant *model.Tenant
	// admin is the tenant's admin scope, for writes through Org.
	admin       context.Context
	departments map[string]*model.Department // by origin id
	users       []*model.User                // in the order of demoUsers
	app         *identity.AppCredentials
	// conversations counts the conversations this run created.
	conversations int
}

func newDemoSeed(db *gorm.DB, password string, rotate bool) *demoSeed {
	users, departments, tenants := dao.NewUsers(db), dao.NewDepartments(db), dao.NewTenants(db)
	hasher := identity.NewBcrypt(0)
	// The seeded changes write their partner events, as the service's do.
	eventLog := events.NewLog(dao.NewEvents(db), dao.NewTransactor(db), nil)
	hook := tracker.NewHook(dao.NewTrackers(db))
	hook.SetEventLog(eventLog)
	ingest := conversation.NewIngest(dao.NewConversations(db), dao.NewDeals(db), dao.NewTransactor(db), hook)
	ingest.SetEventLog(eventLog)
	return &demoSeed{
		org: identity.NewOrg(identity.OrgDeps{
			Users: users, Departments: departments, Tenants: tenants, Refresh: dao.NewRefreshTokens(db), Hasher: hasher,
		}),
		provision: identity.NewProvision(identity.ProvisionDeps{
			Tenants: tenants, Apps: dao.NewApps(db), Users: users, Hasher: hasher,
			Revocations: identity.NewRevocations(dao.NewTokenVersions(db), identity.RevocationOptions{}),
			Tx:          dao.NewTransactor(db),
		}),
		ingest:      ingest,
		password:    password,
		rotate:      rotate,
		departments: map[string]*model.Department{},
	}
}

func (s *demoSeed) run(ctx context.Context) error {
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"tenant", s.seedTenant},
		{"departments", s.seedDepartments},
		{"users", s.seedUsers},
		{"app", s.seedApp},
		{"conversations", s.seedConversations},
	}
	for _, step := range steps {
		if err := step.run(ctx); err != nil {
			return fmt.Errorf("seed %s: %w", step.name, err)
		}
	}
	return nil
}

func (s *demoSeed) seedTenant(ctx context.Context) error {
	t, err := s.provision.TenantOfAccount(ctx, demoAdminEmail)
	if errs.IsNotFound(err) {
		t, err = s.provision.CreateTenant(ctx, identity.NewTenant{Name: "Megaview Demo", Timezone: "Asia/Shanghai"})
	}
	if err != nil {
		return err
	}
	s.tenant = t
	s.admin = model.WithScope(ctx, model.Scope{TenantID: t.ID, Role: model.RoleAdmin})
	return nil
}

// demoDepartments are created parents first.
var demoDepartments = []struct{ origin, name, parent string }{
	{"demo-sales", "销售部 Sales", ""},
	{"demo-sales-east", "华东大区 East China", "demo-sales"},
	{"demo-sales-north", "华北大区 North China", "demo-sales"},
	{"demo-cs", "客户成功部 Customer Success", ""},
}

func (s *demoSeed) seedDepartments(context.Context) error {
	for _, d := range demoDepartments {
		dep, _, err := s.org.UpsertDepartment(s.admin, identity.UpsertDepartmentRequest{OriginDepartmentID: d.origin, Name: d.name, OriginParentID: d.parent})
		if err != nil {
			return err
		}
		s.departments[d.origin] = dep
	}
	return nil
}

var demoUsers = []struct{ origin, name, email, phone, role, department string }{
	{"demo-admin", "系统管理员 Admin", demoAdminEmail, "", model.RoleAdmin, ""},
	{"demo-wang-lei", "王磊 Wang Lei", "wang.lei@demo.mgv", "+8613800000001", model.RoleManager, "demo-sales"},
	{"demo-li-na", "李娜 Li Na", "li.na@demo.mgv", "+8613800000002", model.RoleRep, "demo-sales-east"},
	{"demo-zhang-wei", "张伟 Zhang Wei", "zhang.wei@demo.mgv", "+8613800000003", model.RoleRep, "demo-sales-east"},
	{"demo-chen-jing", "陈静 Chen Jing", "chen.jing@demo.mgv", "+8613800000004", model.RoleRep, "demo-sales-north"},
	{"demo-emily-carter", "Emily Carter", "emily.carter@demo.mgv", "+8613800000005", model.RoleRep, "demo-sales-north"},
	{"demo-james-miller", "James Miller", "james.miller@demo.mgv", "+8613800000006", model.RoleRep, "demo-cs"},
}

func (s *demoSeed) seedUsers(context.Context) error {
	s.users = s.users[:0]
	for _, d := range demoUsers {
		u, _, err := s.org.UpsertUser(s.admin, identity.UpsertUserRequest{
			OriginUserID: d.origin, Name: d.name, Email: d.email, Phone: d.phone, Role: d.role, OriginDepartmentID: d.department,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", d.email, err)
		}
		if u, err = s.org.UpdateUser(s.admin, identity.UpdateUserRequest{ID: u.ID, Password: &s.password}); err != nil {
			return fmt.Errorf("%s: %w", d.email, err)
		}
		s.users = append(s.users, u)
	}
	return nil
}

func (s *demoSeed) seedApp(ctx context.Context) error {
	app, err := s.provision.EnsureApp(ctx, identity.NewApp{
		TenantID: s.tenant.ID, Name: "Demo CRM", Scopes: []string{"ingest", "read", "search", "org"}, RotateSecret: s.rotate,
	})
	s.app = app
	return err
}

// demoConversations is how many calls and meetings the demo tenant gets.
const demoConversations = 200

// seedConversations writes the demo calls and meetings of the reps through
// the ingest use case, so metrics, tracker hits and search indexing follow
// as for any partner's transcript.
func (s *demoSeed) seedConversations(ctx context.Context) error {
	var reps []model.User
	for _, u := range s.users {
		if u.Role == model.RoleRep {
			reps = append(reps, *u)
		}
	}
	n, err := seedConversations(ctx, s.ingest, time.Now(), s.tenant.ID, reps, demoConversations)
	s.conversations = n
	return err
}

// print writes what the seed made and returns the first write error.
func (s *demoSeed) print(w io.Writer) error {
	out := &output{w: w}
	out.printf("demo tenant %q (id %d)\n", s.tenant.Name, s.tenant.ID)
	out.println("departments:")
	for _, d := range demoDepartments {
		dep := s.departments[d.origin]
		out.printf("  %-4d %s%s\n", dep.ID, strings.Repeat("  ", strings.Count(dep.Path, "/")-2), dep.Name)
	}
	out.println("users (sign in with the email or the phone and the password given):")
	for _, u := range s.users {
		phone := ""
		if u.Phone != nil {
			phone = *u.Phone
		}
		out.printf("  %-4d %-8s %-24s %-15s %s\n", u.ID, u.Role, *u.Email, phone, u.Name)
	}
	out.printf("open-platform app %q (scopes: %s)\n", s.app.App.Name, s.app.App.Scopes)
	out.printf("  app_key:    %s\n", s.app.App.AppKey)
	if s.app.Secret != "" {
		out.printf("  app_secret: %s\n", s.app.Secret)
		out.println("  (the secret is shown only now: only its hash is stored)")
	} else {
		out.println("  app_secret: unchanged, shown when the app was created (--rotate-app-secret prints a new one)")
	}
	out.printf("conversations: %d new (the demo holds %d calls and meetings in Chinese and English)\n", s.conversations, demoConversations)
	return out.err
}
