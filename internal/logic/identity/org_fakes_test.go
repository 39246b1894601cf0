package identity

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// memOrg is an in-memory org store behind the repository interfaces of
// auth and org, with the semantics of the dao (unique accounts, scoped
// lists, tree paths).
type memOrg struct {
	mu          sync.Mutex
	nextID      int64
	tenants     map[int64]*model.Tenant
	departments map[int64]*model.Department
	users       map[int64]*model.User
	apps        map[int64]*model.App
	refresh     []*model.RefreshToken
}

func newMemOrg() *memOrg {
	return &memOrg{
		tenants: map[int64]*model.Tenant{}, departments: map[int64]*model.Department{},
		users: map[int64]*model.User{}, apps: map[int64]*model.App{},
	}
}

func (m *memOrg) id() int64 { m.nextID++; return m.nextID }

var (
	memNotFound = errs.NotFound(errs.ReasonNotFound, "no such row")
	memConflict = errs.New(http.StatusConflict, errs.ReasonAlreadyExists, "duplicate key")
)

type memUsers struct{ *memOrg }

func (m memUsers) find(match func(u *model.User) bool) (*model.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if match(u) {
			c := *u
			return &c, nil
		}
	}
	return nil, errs.NotFound("USER_NOT_FOUND", "no such user")
}

func (m memUsers) ByID(_ context.Context, tenantID, id int64) (*model.User, error) {
	return m.find(func(u *model.User) bool { return u.TenantID == tenantID && u.ID == id })
}

func (m memUsers) ByEmail(_ context.Context, email string) (*model.User, error) {
	return m.find(func(u *model.User) bool { return u.Email != nil && *u.Email == email })
}

func (m memUsers) ByPhone(_ context.Context, phone string) (*model.User, error) {
	return m.find(func(u *model.User) bool { return u.Phone != nil && *u.Phone == phone })
}

func (m memUsers) ByOrigin(_ context.Context, tenantID int64, origin string) (*model.User, error) {
	return m.find(func(u *model.User) bool {
		return u.TenantID == tenantID && u.OriginUserID != nil && *u.OriginUserID == origin
	})
}

func (m memUsers) clash(u *model.User) bool {
	for _, o := range m.users {
		if o.ID != u.ID && (orgSameNonNil(o.Email, u.Email) || orgSameNonNil(o.Phone, u.Phone) ||
			(o.TenantID == u.TenantID && orgSameNonNil(o.OriginUserID, u.OriginUserID))) {
			return true
		}
	}
	return false
}

func orgSameNonNil(a, b *string) bool { return a != nil && b != nil && *a == *b }

func (m memUsers) Create(_ context.Context, u *model.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.clash(u) {
		return memConflict
	}
	u.ID = m.id()
	c := *u
	m.users[u.ID] = &c
	return nil
}

func (m memUsers) Update(_ context.Context, u *model.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.users[u.ID]; !ok || old.TenantID != u.TenantID {
		return memNotFound
	}
	if m.clash(u) {
		return memConflict
	}
	c := *u
	m.users[u.ID] = &c
	return nil
}

func (m memUsers) List(_ context.Context, s model.Scope, departmentPath string, afterID int64, limit int) ([]model.User, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inSubtree := func(u *model.User, path string) bool {
		if u.DepartmentID == nil {
			return false
		}
		d := m.departments[*u.DepartmentID]
		return d != nil && strings.HasPrefix(d.Path, path)
	}
	var all []model.User
	for _, u := range m.users {
		if u.TenantID != s.TenantID {
			continue
		}
		switch {
		case s.WholeTenant():
		case s.Role == model.RoleManager && s.DepartmentPath != "":
			if u.ID != s.UserID && !inSubtree(u, s.DepartmentPath) {
				continue
			}
		default:
			if u.ID != s.UserID {
				continue
			}
		}
		if departmentPath != "" && !inSubtree(u, departmentPath) {
			continue
		}
		all = append(all, *u)
	}
	slices.SortFunc(all, func(a, b model.User) int { return int(a.ID - b.ID) })
	page := []model.User{}
	for _, u := range all {
		if u.ID > afterID && len(page) < limit {
			page = append(page, u)
		}
	}
	return page, int64(len(all)), nil
}

type memDepartments struct{ *memOrg }

func (m memDepartments) find(match func(d *model.Department) bool) (*model.Department, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.departments {
		if match(d) {
			c := *d
			return &c, nil
		}
	}
	return nil, errs.NotFound("DEPARTMENT_NOT_FOUND", "no such department")
}

func (m memDepartments) ByID(_ context.Context, tenantID, id int64) (*model.Department, error) {
	return m.find(func(d *model.Department) bool { return d.TenantID == tenantID && d.ID == id })
}

func (m memDepartments) ByOrigin(_ context.Context, tenantID int64, origin string) (*model.Department, error) {
	return m.find(func(d *model.Department) bool {
		return d.TenantID == tenantID && d.OriginDepartmentID != nil && *d.OriginDepartmentID == origin
	})
}

func (m memDepartments) List(_ context.Context, tenantID int64) ([]model.Department, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []model.Department{}
	for _, d := range m.departments {
		if d.TenantID == tenantID {
			out = append(out, *d)
		}
	}
	slices.SortFunc(out, func(a, b model.Department) int { return int(a.ID - b.ID) })
	return out, nil
}

func (m memDepartments) Create(_ context.Context, d *model.Department, parent *model.Department) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	prefix := "/"
	d.ParentID = nil
	if parent != nil {
		prefix, d.ParentID = m.departments[parent.ID].Path, &parent.ID
	}
	d.ID = m.id()
	d.Path = prefix + strconv.FormatInt(d.ID, 10) + "/"
	c := *d
	m.departments[d.ID] = &c
	return nil
}

func (m memDepartments) Update(_ context.Context, d *model.Department, parent *model.Department) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.departments[d.ID]
	prefix := "/"
	d.ParentID = nil
	if parent != nil {
		prefix, d.ParentID = m.departments[parent.ID].Path, &parent.ID
	}
	oldPath, newPath := cur.Path, prefix+strconv.FormatInt(d.ID, 10)+"/"
	for _, o := range m.departments {
		if strings.HasPrefix(o.Path, oldPath) {
			o.Path = newPath + strings.TrimPrefix(o.Path, oldPath)
		}
	}
	cur.Name, cur.ParentID, cur.UpdatedAt = d.Name, d.ParentID, d.UpdatedAt
	d.Path = newPath
	return nil
}

type memTenants struct{ *memOrg }

func (m memTenants) ByID(_ context.Context, id int64) (*model.Tenant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tenants[id]
	if !ok {
		return nil, errs.NotFound("TENANT_NOT_FOUND", "no such tenant")
	}
	c := *t
	return &c, nil
}

func (m memTenants) Create(_ context.Context, t *model.Tenant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t.ID = m.id()
	c := *t
	m.tenants[t.ID] = &c
	return nil
}

type memApps struct{ *memOrg }

func (m memApps) find(match func(a *model.App) bool) (*model.App, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.apps {
		if match(a) {
			c := *a
			return &c, nil
		}
	}
	return nil, errs.NotFound("APP_NOT_FOUND", "no such app")
}

func (m memApps) ByKey(_ context.Context, key string) (*model.App, error) {
	return m.find(func(a *model.App) bool { return a.AppKey == key })
}

func (m memApps) ByName(_ context.Context, tenantID int64, name string) (*model.App, error) {
	return m.find(func(a *model.App) bool { return a.TenantID == tenantID && a.Name == name })
}

func (m memApps) Create(_ context.Context, a *model.App) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a.ID = m.id()
	c := *a
	m.apps[a.ID] = &c
	return nil
}

func (m memApps) UpdateSecret(_ context.Context, tenantID, id int64, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.apps[id]
	if !ok || a.TenantID != tenantID {
		return memNotFound
	}
	a.SecretHash = hash
	return nil
}

type memRefresh struct{ *memOrg }

func (m memRefresh) Create(_ context.Context, t *model.RefreshToken) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t.ID = m.id()
	c := *t
	m.refresh = append(m.refresh, &c)
	return nil
}

func (m memRefresh) ByHash(_ context.Context, hash string) (*model.RefreshToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.refresh {
		if t.TokenHash == hash {
			c := *t
			return &c, nil
		}
	}
	return nil, errs.NotFound("REFRESH_TOKEN_NOT_FOUND", "no such token")
}

func (m memRefresh) Rotate(_ context.Context, oldHash string, usedAt time.Time, next *model.RefreshToken) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.refresh {
		if t.TokenHash == oldHash && t.UsedAt == nil && t.RevokedAt == nil {
			t.UsedAt = &usedAt
			next.ID = m.id()
			c := *next
			m.refresh = append(m.refresh, &c)
			return true, nil
		}
	}
	return false, nil
}

func (m memRefresh) RevokeFamily(_ context.Context, familyID string, at time.Time) error {
	return m.revoke(func(t *model.RefreshToken) bool { return t.FamilyID == familyID }, at)
}

func (m memRefresh) RevokeUser(_ context.Context, tenantID, userID int64, at time.Time) error {
	return m.revoke(func(t *model.RefreshToken) bool { return t.TenantID == tenantID && t.UserID == userID }, at)
}

func (m memRefresh) revoke(match func(*model.RefreshToken) bool, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.refresh {
		if match(t) && t.RevokedAt == nil {
			t.RevokedAt = &at
		}
	}
	return nil
}

// live counts the tokens of a user that are neither used nor revoked.
func (m memRefresh) live(userID int64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, t := range m.refresh {
		if t.UserID == userID && t.UsedAt == nil && t.RevokedAt == nil {
			n++
		}
	}
	return n
}

// countingHasher is bcrypt at its lowest cost that counts comparisons.
type countingHasher struct {
	Bcrypt
	compares atomic.Int64
}

func (h *countingHasher) Matches(hash, secret string) bool {
	h.compares.Add(1)
	return h.Bcrypt.Matches(hash, secret)
}

// orgWorld is a tenant with an org tree in memory, a second tenant, and the
// use cases over them.
//
//	/sales/       manager, rep1
//	/sales/east/  rep2
//	/support/     rep3 (disabled later by some tests)
//	admin without a department; other: a second tenant with its admin
type orgWorld struct {
	store        *memOrg
	clock        *testClock
	hasher       *countingHasher
	tokens       *Tokens
	auth         *Auth
	org          *Org
	provision    *Provision
	tenant       *model.Tenant
	other        *model.Tenant
	sales, east  *model.Department
	support      *model.Department
	otherDept    *model.Department
	admin        *model.User
	manager      *model.User
	reps         []*model.User
	otherAdmin   *model.User
	password     string
	app          *model.App
	appSecret    string
	readOnlyApp  *model.App
	readOnlyPass string
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newOrgWorld(t *testing.T) *orgWorld {
	t.Helper()
	w := &orgWorld{
		store:    newMemOrg(),
		clock:    &testClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		hasher:   &countingHasher{Bcrypt: NewBcrypt(bcrypt.MinCost)},
		password: "correct horse battery",
	}
	w.tokens = NewTokens("unit-test-secret-0123456789abcdef", 15*time.Minute, 2*time.Hour)
	w.tokens.now = w.clock.Now
	users, deps, tenants := memUsers{w.store}, memDepartments{w.store}, memTenants{w.store}
	refresh, apps := memRefresh{w.store}, memApps{w.store}
	var err error
	w.auth, err = NewAuth(AuthDeps{
		Users: users, Tenants: tenants, Departments: deps, Refresh: refresh, Apps: apps,
		Tokens: w.tokens, Hasher: w.hasher, RefreshTTL: 24 * time.Hour, Now: w.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.org = NewOrg(OrgDeps{Users: users, Departments: deps, Tenants: tenants, Refresh: refresh, Hasher: w.hasher, Now: w.clock.Now})
	w.provision = NewProvision(ProvisionDeps{Tenants: tenants, Apps: apps, Users: users, Hasher: w.hasher, Now: w.clock.Now})

	ctx := context.Background()
	w.tenant = orgMust[*model.Tenant](t)(w.provision.CreateTenant(ctx, NewTenant{Name: "Acme", RateTier: "premium"}))
	w.other = orgMust[*model.Tenant](t)(w.provision.CreateTenant(ctx, NewTenant{Name: "Other"}))
	sys := w.as(model.Scope{TenantID: w.tenant.ID, Role: model.RoleAdmin})
	dept := func(ctx context.Context, origin, parent string) *model.Department {
		d, _, err := w.org.UpsertDepartment(ctx, UpsertDepartmentRequest{OriginDepartmentID: origin, Name: origin, OriginParentID: parent})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	w.sales, w.east, w.support = dept(sys, "sales", ""), dept(sys, "east", "sales"), dept(sys, "support", "")
	user := func(ctx context.Context, name, role string, d *model.Department, phone string) *model.User {
		req := CreateUserRequest{Name: name, Email: name + "@acme.test", Phone: phone, Password: w.password, Role: role}
		if d != nil {
			req.DepartmentID = d.ID
		}
		u, err := w.org.CreateUser(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	w.admin = user(sys, "admin", model.RoleAdmin, nil, "")
	w.manager = user(sys, "manager", model.RoleManager, w.sales, "+8613900000001")
	w.reps = []*model.User{
		user(sys, "rep1", model.RoleRep, w.sales, "13900000002"),
		user(sys, "rep2", model.RoleRep, w.east, ""),
		user(sys, "rep3", model.RoleRep, w.support, ""),
	}
	otherSys := w.as(model.Scope{TenantID: w.other.ID, Role: model.RoleAdmin})
	w.otherDept = dept(otherSys, "sales", "")
	dept(otherSys, "other-only", "")
	w.otherAdmin = user(otherSys, "other-admin", model.RoleAdmin, w.otherDept, "")

	creds := orgMust[*AppCredentials](t)(w.provision.EnsureApp(ctx, NewApp{TenantID: w.tenant.ID, Name: "CRM", Scopes: []string{"ingest", "read"}}))
	w.app, w.appSecret = creds.App, creds.Secret
	ro := orgMust[*AppCredentials](t)(w.provision.EnsureApp(ctx, NewApp{TenantID: w.tenant.ID, Name: "BI", Scopes: []string{"search"}}))
	w.readOnlyApp, w.readOnlyPass = ro.App, ro.Secret
	w.hasher.compares.Store(0)
	return w
}

func orgMust[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// as is a context with the scope a token of s would give.
func (w *orgWorld) as(s model.Scope) context.Context {
	return model.WithScope(context.Background(), s)
}

// user is the context of a signed-in user, as their access token gives it.
func (w *orgWorld) user(u *model.User) context.Context {
	s := model.Scope{TenantID: u.TenantID, UserID: u.ID, Role: u.Role}
	if u.DepartmentID != nil {
		s.DepartmentPath = w.store.departments[*u.DepartmentID].Path
	}
	return w.as(s)
}

// appCtx is the context of an app token.
func (w *orgWorld) appCtx(a *model.App) context.Context {
	return w.as(model.Scope{TenantID: a.TenantID, AppID: a.ID, Role: model.RoleApp, AppScopes: strings.Fields(a.Scopes)})
}

// wantErr checks the HTTP status and, when given, the reason and the field.
func wantOrgErr(t *testing.T, err error, status int, reason, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %d %s", status, reason)
	}
	e := errs.From(err)
	if e.Status != status || (reason != "" && e.Reason != reason) || (field != "" && e.Metadata["field"] != field) {
		t.Fatalf("got %d %s (field %q): %s; want %d %s (field %q)", e.Status, e.Reason, e.Metadata["field"], e.Message, status, reason, field)
	}
}
