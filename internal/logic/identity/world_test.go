package identity_test

import (
	"context"
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

// countingHasher is bcrypt at its lowest cost that counts comparisons.
type countingHasher struct {
	identity.Bcrypt
	compares atomic.Int64
	// beforeHash and beforeMatch run once, at the next Hash or Matches:
	// what happens meanwhile.
	beforeHash, beforeMatch atomic.Pointer[func()]
}

func (h *countingHasher) Hash(secret string) (string, error) {
	if f := h.beforeHash.Swap(nil); f != nil {
		(*f)()
	}
	return h.Bcrypt.Hash(secret)
}

func (h *countingHasher) Matches(hash, secret string) bool {
	h.compares.Add(1)
	if f := h.beforeMatch.Swap(nil); f != nil {
		(*f)()
	}
	return h.Bcrypt.Matches(hash, secret)
}

// hookedRefresh is the refresh token store with a hook on a rotation.
type hookedRefresh struct {
	*dao.RefreshTokens
	// afterRotate runs once, after the next rotation: what happens before
	// the refresh that rotated signs its pair.
	afterRotate atomic.Pointer[func()]
}

func (r *hookedRefresh) Rotate(ctx context.Context, oldHash string, usedAt time.Time, next *model.RefreshToken) (bool, error) {
	won, err := r.RefreshTokens.Rotate(ctx, oldHash, usedAt, next)
	if f := r.afterRotate.Swap(nil); f != nil {
		(*f)()
	}
	return won, err
}

// hookedDepartments is the department store with a hook after a read.
type hookedDepartments struct {
	*dao.Departments
	// afterRead runs once, after the next read of the department with its
	// origin id: what happens between an upsert's read of the department
	// and its write. (Not inside the write's transaction: the embedded
	// store lets no other writer in there, as MariaDB's row locks would
	// keep the same writer waiting.)
	afterRead atomic.Pointer[readHook]
}

type readHook struct {
	origin string
	fn     func()
}

func (r *hookedDepartments) ByOrigin(ctx context.Context, tenantID int64, origin string) (*model.Department, error) {
	d, err := r.Departments.ByOrigin(ctx, tenantID, origin)
	if h := r.afterRead.Load(); h != nil && h.origin == origin && r.afterRead.CompareAndSwap(h, nil) {
		h.fn()
	}
	return d, err
}

// orgWorld is a tenant with an org tree in an embedded database, a second
// tenant, and the use cases over them.
//
//	/sales/       manager, rep1
//	/sales/east/  rep2
//	/support/     rep3 (disabled later by some tests)
//	admin without a department; other: a second tenant with its admin
type orgWorld struct {
	users        *dao.Users
	departments  *dao.Departments
	deptWrites   *hookedDepartments
	clock        *testClock
	hasher       *countingHasher
	tokens       *identity.Tokens
	auth         *identity.Auth
	org          *identity.Org
	provision    *identity.Provision
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
	throttle     *countingThrottle
	refresh      *hookedRefresh
	appRepo      *dao.Apps
	tenants      *dao.Tenants
	tx           *dao.Transactor
	// privacy anonymises users, as an erasure does.
	privacy *dao.Privacy
	// revocations are this instance's token versions; versions is their
	// store, which another instance would read too.
	revocations *identity.Revocations
	versions    storedVersions
	// db is the store, for writes no release of the service makes any
	// more.
	db *gorm.DB
	// sleeps records the delays of failed sign-ins, which do not wait.
	sleeps *sleepLog
}

// sleepLog records delays instead of sleeping.
type sleepLog struct {
	mu sync.Mutex
	ds []time.Duration
}

func (l *sleepLog) Sleep(_ context.Context, d time.Duration) error {
	l.mu.Lock()
	l.ds = append(l.ds, d)
	l.mu.Unlock()
	return nil
}

// Take returns the delays recorded since the last Take.
func (l *sleepLog) Take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ds
	l.ds = nil
	return out
}

type addrKey struct{}

// fromAddr is a context whose call comes from the client address addr.
func fromAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, addrKey{}, addr)
}

func clientAddr(ctx context.Context) string {
	addr, _ := ctx.Value(addrKey{}).(string)
	return addr
}

// throttleKey is the secret the sign-in throttle's buckets are hashed
// under, as config's SigninThrottleKey gives the service one.
const throttleKey = "signin-throttle:unit-test-secret-0123456789abcdef"

// countingThrottle counts the attempts the throttle store is asked to
// count, each a write transaction.
type countingThrottle struct {
	*dao.SigninThrottle
	hits atomic.Int64
}

func (c *countingThrottle) Hit(ctx context.Context, bucket, kind string, now, expired time.Time) (int, time.Time, error) {
	c.hits.Add(1)
	return c.SigninThrottle.Hit(ctx, bucket, kind, now, expired)
}

// testClock is the clock of the use cases, so a test can let refresh
// tokens run out.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// storedVersions is the token versions of the test's database, whose
// clock, which stamps every raise, is the test's.
type storedVersions struct {
	*dao.TokenVersions
	clock *testClock
}

func (v storedVersions) Now(context.Context) (time.Time, error) { return v.clock.Now(), nil }

func newOrgWorld(t testing.TB) *orgWorld {
	t.Helper()
	db := daotest.Open(t)
	w := &orgWorld{
		users:       dao.NewUsers(db),
		departments: dao.NewDepartments(db),
		clock:       &testClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		hasher:      &countingHasher{Bcrypt: identity.NewBcrypt(bcrypt.MinCost)},
		password:    "correct horse battery",
		throttle:    &countingThrottle{SigninThrottle: dao.NewSigninThrottle(db)},
		privacy:     dao.NewPrivacy(db),
		sleeps:      &sleepLog{},
	}
	w.deptWrites = &hookedDepartments{Departments: w.departments}
	w.tokens = identity.NewTokens("unit-test-secret-0123456789abcdef", 15*time.Minute, 2*time.Hour)
	tenants, refresh, apps := dao.NewTenants(db), dao.NewRefreshTokens(db), dao.NewApps(db)
	w.refresh = &hookedRefresh{RefreshTokens: refresh}
	w.versions, w.db = storedVersions{TokenVersions: dao.NewTokenVersions(db), clock: w.clock}, db
	w.appRepo, w.tenants, w.tx = apps, tenants, dao.NewTransactor(db)
	w.revocations = identity.NewRevocations(w.versions, identity.RevocationOptions{Keep: 2 * time.Hour, Now: w.clock.Now})
	var err error
	w.auth, err = identity.NewAuth(identity.AuthDeps{
		Users: w.users, Tenants: tenants, Departments: w.departments, Refresh: w.refresh, Apps: apps,
		Tokens: w.tokens, Hasher: w.hasher, RefreshTTL: 24 * time.Hour, Now: w.clock.Now,
		Throttle: w.throttle, ThrottleKey: throttleKey, ClientAddr: clientAddr, Sleep: w.sleeps.Sleep, Revocations: w.revocations,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.org = identity.NewOrg(identity.OrgDeps{Users: w.users, Departments: w.deptWrites, Tenants: tenants, Refresh: refresh, Hasher: w.hasher, Now: w.clock.Now, Revocations: w.revocations,
		Tx: dao.NewTransactor(db)})
	w.provision = identity.NewProvision(identity.ProvisionDeps{Tenants: tenants, Apps: apps, Users: w.users, Hasher: w.hasher, Now: w.clock.Now, Revocations: w.revocations, Tx: w.tx})

	ctx := context.Background()
	w.tenant = orgMust[*model.Tenant](t)(w.provision.CreateTenant(ctx, identity.NewTenant{Name: "Acme", RateTier: "premium"}))
	w.other = orgMust[*model.Tenant](t)(w.provision.CreateTenant(ctx, identity.NewTenant{Name: "Other"}))
	sys := w.as(model.Scope{TenantID: w.tenant.ID, Role: model.RoleAdmin})
	dept := func(ctx context.Context, origin, parent string) *model.Department {
		d, _, err := w.org.UpsertDepartment(ctx, identity.UpsertDepartmentRequest{OriginDepartmentID: origin, Name: origin, OriginParentID: parent})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	w.sales, w.east, w.support = dept(sys, "sales", ""), dept(sys, "east", "sales"), dept(sys, "support", "")
	user := func(ctx context.Context, name, role string, d *model.Department, phone string) *model.User {
		req := identity.CreateUserRequest{Name: name, Email: name + "@acme.test", Phone: phone, Password: w.password, Role: role}
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

	creds := orgMust[*identity.AppCredentials](t)(w.provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "CRM", Scopes: []string{"ingest", "read", "org"}}))
	w.app, w.appSecret = creds.App, creds.Secret
	ro := orgMust[*identity.AppCredentials](t)(w.provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "BI", Scopes: []string{"search"}}))
	w.readOnlyApp, w.readOnlyPass = ro.App, ro.Secret
	w.hasher.compares.Store(0)
	return w
}

func orgMust[T any](t testing.TB) func(v T, err error) T {
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

// user is the context of a signed-in user of the world, as their access
// token gives it.
func (w *orgWorld) user(u *model.User) context.Context {
	s := model.Scope{TenantID: u.TenantID, UserID: u.ID, Role: u.Role}
	for _, d := range []*model.Department{w.sales, w.east, w.support, w.otherDept} {
		if u.DepartmentID != nil && *u.DepartmentID == d.ID {
			s.DepartmentPath = d.Path
		}
	}
	return w.as(s)
}

// appCtx is the context of an app token.
func (w *orgWorld) appCtx(a *model.App) context.Context {
	return w.as(model.Scope{TenantID: a.TenantID, AppID: a.ID, Role: model.RoleApp, AppScopes: strings.Fields(a.Scopes)})
}

// wantOrgErr checks the reason and, when given, the field.
func wantOrgErr(t *testing.T, err error, reason, field string) {
	t.Helper()
	e := errs.From(err)
	if e == nil {
		t.Fatalf("got no error, want %s", reason)
	}
	if e.Reason != reason || (field != "" && e.Metadata["field"] != field) {
		t.Fatalf("got %s (field %q): %s; want %s (field %q)", e.Reason, e.Metadata["field"], e.Message, reason, field)
	}
}
