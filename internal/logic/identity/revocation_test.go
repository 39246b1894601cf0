package identity_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/polltest"
)

// session signs u in and returns the pair.
func (w *orgWorld) session(t *testing.T, u *model.User) *identity.TokenPair {
	t.Helper()
	pair, err := w.auth.Login(context.Background(), identity.LoginRequest{Account: *u.Email, Password: w.password})
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// check verifies token and asks r whether it is still valid.
func (w *orgWorld) check(t *testing.T, r *identity.Revocations, token string) error {
	t.Helper()
	c, err := w.tokens.Verify(token)
	if err != nil {
		t.Fatal(err)
	}
	return r.Check(c)
}

func wantRevoked(t *testing.T, err error, words string) {
	t.Helper()
	if !errs.Is(err, errs.ReasonTokenRevoked) || errs.From(err).Status != 401 || !strings.Contains(err.Error(), words) {
		t.Fatalf("got %v, want TOKEN_REVOKED (401) saying %q", err, words)
	}
}

// otherInstance is a second instance's view of the same token versions,
// read from the store only by polling.
func (w *orgWorld) otherInstance(t *testing.T) *identity.Revocations {
	t.Helper()
	r := identity.NewRevocations(w.versions, identity.RevocationOptions{Keep: 2 * time.Hour, Now: w.clock.Now})
	if err := r.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoleAndDepartmentChangesRevokeAccessTokens(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	other := w.otherInstance(t)
	pair := w.session(t, w.manager)
	if err := w.check(t, w.revocations, pair.AccessToken); err != nil {
		t.Fatal(err)
	}

	rep := model.RoleRep
	if _, err := w.org.UpdateUser(w.user(w.admin), identity.UpdateUserRequest{ID: w.manager.ID, Role: &rep}); err != nil {
		t.Fatal(err)
	}
	// This instance refuses the old token at once, the other after a poll.
	wantRevoked(t, w.check(t, w.revocations, pair.AccessToken), "role changed; sign in again")
	if err := w.check(t, other, pair.AccessToken); err != nil {
		t.Fatalf("before its poll the other instance knew: %v", err)
	}
	w.clock.Add(time.Second)
	if err := other.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, other, pair.AccessToken), "role changed; sign in again")

	// A role change ends the refresh token too: the user signs in again and
	// gets a token of the new role.
	if _, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: pair.RefreshToken}); !errs.Is(err, errs.ReasonUnauthenticated) {
		t.Fatalf("refresh after a role change: %v", err)
	}
	next := w.session(t, w.manager)
	c, _ := w.tokens.Verify(next.AccessToken)
	if c.Role != model.RoleRep || c.Version != 1 || w.revocations.Check(c) != nil || other.Check(c) != nil {
		t.Fatalf("signed in again: role %s version %d", c.Role, c.Version)
	}

	dep := w.east.ID
	if _, err := w.org.UpdateUser(w.user(w.admin), identity.UpdateUserRequest{ID: w.manager.ID, DepartmentID: &dep}); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, w.revocations, next.AccessToken), "department changed; sign in again")
	if _, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: next.RefreshToken}); !errs.Is(err, errs.ReasonUnauthenticated) {
		t.Fatalf("refresh after a department change: %v", err)
	}

	// A change of name revokes nothing.
	name := "Renamed"
	fresh := w.session(t, w.manager)
	if _, err := w.org.UpdateUser(w.user(w.admin), identity.UpdateUserRequest{ID: w.manager.ID, Name: &name}); err != nil {
		t.Fatal(err)
	}
	if err := w.check(t, w.revocations, fresh.AccessToken); err != nil {
		t.Fatalf("a new name revoked the token: %v", err)
	}
}

func TestDisablingRevokesEverything(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	pair := w.session(t, w.reps[0])
	disabled := model.UserDisabled
	if _, err := w.org.UpdateUser(w.user(w.admin), identity.UpdateUserRequest{ID: w.reps[0].ID, Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, w.revocations, pair.AccessToken), "disabled")
	if _, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: pair.RefreshToken}); !errs.Is(err, errs.ReasonUnauthenticated) {
		t.Fatalf("refresh after disabling: %v", err)
	}

	// A partner disabling a mirrored user revokes too.
	origin := "crm-7"
	app := w.appCtx(w.app)
	u, _, err := w.org.UpsertUser(app, identity.UpsertUserRequest{OriginUserID: origin, Name: "Mirrored", Email: "mirrored@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := w.versions.Current(ctx, model.TokenVersionUser, u.ID)
	if _, _, err := w.org.UpsertUser(app, identity.UpsertUserRequest{OriginUserID: origin, Name: "Mirrored", Email: "mirrored@acme.test", Status: model.UserDisabled}); err != nil {
		t.Fatal(err)
	}
	after, _ := w.versions.Current(ctx, model.TokenVersionUser, u.ID)
	if after.Version != before.Version+1 || after.Reason != identity.RevokedDisabled {
		t.Fatalf("version %d → %d (%s)", before.Version, after.Version, after.Reason)
	}
}

func TestAdminSetsPasswordRevokes(t *testing.T) {
	w := newOrgWorld(t)
	pair := w.session(t, w.reps[1])
	pw := "a brand new password"
	if _, err := w.org.UpdateUser(w.user(w.admin), identity.UpdateUserRequest{ID: w.reps[1].ID, Password: &pw}); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, w.revocations, pair.AccessToken), "password")
}

func TestLogout(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	first, second := w.session(t, w.reps[0]), w.session(t, w.reps[0])
	if err := w.auth.Logout(w.user(w.reps[0])); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*identity.TokenPair{first, second} {
		wantRevoked(t, w.check(t, w.revocations, p.AccessToken), "signed out")
		if _, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: p.RefreshToken}); !errs.Is(err, errs.ReasonUnauthenticated) {
			t.Fatalf("refresh after logout: %v", err)
		}
	}
	// Signing in again works.
	if err := w.check(t, w.revocations, w.session(t, w.reps[0]).AccessToken); err != nil {
		t.Fatal(err)
	}
	// An app has no session to end.
	if err := w.auth.Logout(w.appCtx(w.app)); err == nil {
		t.Fatal("an app signed out")
	}
}

func TestChangePassword(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	other, this := w.session(t, w.reps[0]), w.session(t, w.reps[0])
	me := w.user(w.reps[0])

	_, err := w.auth.ChangePassword(me, identity.ChangePasswordRequest{CurrentPassword: "not it", NewPassword: "another password"})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "current_password")
	_, err = w.auth.ChangePassword(me, identity.ChangePasswordRequest{CurrentPassword: w.password, NewPassword: "short"})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "new_password")
	if err := w.check(t, w.revocations, other.AccessToken); err != nil {
		t.Fatalf("a refused change revoked: %v", err)
	}

	pair, err := w.auth.ChangePassword(me, identity.ChangePasswordRequest{CurrentPassword: w.password, NewPassword: "another password"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*identity.TokenPair{other, this} {
		wantRevoked(t, w.check(t, w.revocations, p.AccessToken), "password")
		if _, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: p.RefreshToken}); !errs.Is(err, errs.ReasonUnauthenticated) {
			t.Fatalf("refresh of an old session: %v", err)
		}
	}
	if err := w.check(t, w.revocations, pair.AccessToken); err != nil {
		t.Fatalf("the new pair: %v", err)
	}
	if _, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: pair.RefreshToken}); err != nil {
		t.Fatalf("the new refresh token: %v", err)
	}
	if _, err := w.auth.Login(ctx, identity.LoginRequest{Account: *w.reps[0].Email, Password: "another password"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.auth.Login(ctx, identity.LoginRequest{Account: *w.reps[0].Email, Password: w.password}); err == nil {
		t.Fatal("the old password still signs in")
	}
}

// A password change reads the user, then spends two bcrypt rounds: what an
// admin changed meanwhile stays changed, and the new pair carries it.
func TestChangePasswordKeepsAConcurrentChange(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	admin := w.user(w.admin)
	during := func(f func()) { w.hasher.beforeHash.Store(&f) }

	rep := model.RoleRep
	during(func() {
		if _, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.manager.ID, Role: &rep}); err != nil {
			t.Error(err)
		}
	})
	pair, err := w.auth.ChangePassword(w.user(w.manager), identity.ChangePasswordRequest{CurrentPassword: w.password, NewPassword: "another password"})
	if err != nil {
		t.Fatal(err)
	}
	if u := orgMust[*model.User](t)(w.users.ByID(ctx, w.tenant.ID, w.manager.ID)); u.Role != model.RoleRep {
		t.Fatalf("the demoted manager is a %s again", u.Role)
	}
	c, err := w.tokens.Verify(pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.Scope().Role != model.RoleRep {
		t.Fatalf("the new access token says %s, want rep", c.Scope().Role)
	}

	disabled := model.UserDisabled
	during(func() {
		if _, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.reps[0].ID, Status: &disabled}); err != nil {
			t.Error(err)
		}
	})
	_, err = w.auth.ChangePassword(w.user(w.reps[0]), identity.ChangePasswordRequest{CurrentPassword: w.password, NewPassword: "another password"})
	wantOrgErr(t, err, "USER_DISABLED", "")
	u := orgMust[*model.User](t)(w.users.ByID(ctx, w.tenant.ID, w.reps[0].ID))
	if u.Status != model.UserDisabled {
		t.Fatalf("the disabled rep is %s again", u.Status)
	}
	if _, err := w.auth.Login(ctx, identity.LoginRequest{Account: *w.reps[0].Email, Password: "another password"}); err == nil {
		t.Fatal("the disabled rep signs in with the password set after they were disabled")
	}
}

// A user demoted or disabled while their sign-in compares the password
// gets no token of what they were: the pair is signed from the user as
// they are once the password matched.
func TestSigningInDuringAChange(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	admin := w.user(w.admin)
	during := func(f func()) { w.hasher.beforeMatch.Store(&f) }

	rep := model.RoleRep
	during(func() {
		if _, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.manager.ID, Role: &rep}); err != nil {
			t.Error(err)
		}
	})
	pair := w.session(t, w.manager)
	c, err := w.tokens.Verify(pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.revocations.Check(c); err == nil && c.Scope().Role != model.RoleRep {
		t.Fatalf("the manager demoted while signing in holds a valid %s token", c.Scope().Role)
	}

	disabled := model.UserDisabled
	during(func() {
		if _, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.reps[0].ID, Status: &disabled}); err != nil {
			t.Error(err)
		}
	})
	pair, err = w.auth.Login(ctx, identity.LoginRequest{Account: *w.reps[0].Email, Password: w.password})
	if err == nil {
		if err := w.check(t, w.revocations, pair.AccessToken); err == nil {
			t.Fatal("the rep disabled while signing in holds a valid token")
		}
	}
}

func TestRotatingAnAppSecretRevokesItsTokens(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	tok, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: w.appSecret})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := w.provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "CRM", RotateSecret: true})
	if err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, w.revocations, tok.AccessToken), "secret")
	fresh, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: creds.Secret})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.check(t, w.revocations, fresh.AccessToken); err != nil {
		t.Fatal(err)
	}
	// Another app's tokens are untouched.
	ro, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.readOnlyApp.AppKey, AppSecret: w.readOnlyPass})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.check(t, w.revocations, ro.AccessToken); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRevocationCheck is the cost the check adds to every
// authenticated request: a read-locked map lookup.
func BenchmarkRevocationCheck(b *testing.B) {
	w := newOrgWorld(b)
	for i := range 1000 {
		if err := w.revocations.Revoke(context.Background(), model.TokenVersionUser, w.tenant.ID, int64(100000+i), identity.RevokedLogout); err != nil {
			b.Fatal(err)
		}
	}
	pair, err := w.auth.Login(context.Background(), identity.LoginRequest{Account: *w.reps[0].Email, Password: w.password})
	if err != nil {
		b.Fatal(err)
	}
	c, err := w.tokens.Verify(pair.AccessToken)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.revocations.Check(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestMovingADepartmentRevokesItsMembers(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	moved, stays := w.session(t, w.reps[1]), w.session(t, w.manager)
	sys := w.as(model.Scope{TenantID: w.tenant.ID, Role: model.RoleAdmin})

	// A new name keeps the path: nobody's token ends.
	if _, _, err := w.org.UpsertDepartment(sys, identity.UpsertDepartmentRequest{OriginDepartmentID: "east", Name: "East", OriginParentID: "sales"}); err != nil {
		t.Fatal(err)
	}
	if err := w.check(t, w.revocations, moved.AccessToken); err != nil {
		t.Fatalf("a rename revoked the member's token: %v", err)
	}
	// Moved under support, east's members carry a path that no longer is.
	if _, _, err := w.org.UpsertDepartment(sys, identity.UpsertDepartmentRequest{OriginDepartmentID: "east", Name: "East", OriginParentID: "support"}); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, w.revocations, moved.AccessToken), "department changed; sign in again")
	if _, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: moved.RefreshToken}); !errs.Is(err, errs.ReasonUnauthenticated) {
		t.Fatalf("refresh after the move: %v", err)
	}
	if err := w.check(t, w.revocations, stays.AccessToken); err != nil {
		t.Fatalf("the move revoked a member of the old parent: %v", err)
	}
	// Signed in again, the member's token carries the new path.
	c, _ := w.tokens.Verify(w.session(t, w.reps[1]).AccessToken)
	if d, err := w.departments.ByID(ctx, w.tenant.ID, w.east.ID); err != nil || c.DepartmentPath != d.Path || !strings.HasPrefix(d.Path, w.support.Path) {
		t.Fatalf("new token path %q, department %+v %v", c.DepartmentPath, d, err)
	}
}

// An upsert that read the department where it wants it, and renames it,
// while another upsert moves it elsewhere, moves it back: the members'
// tokens signed at the other place end, as at any move.
func TestMovingADepartmentBackRevokesItsMembers(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	sys := w.as(model.Scope{TenantID: w.tenant.ID, Role: model.RoleAdmin})
	var elsewhere *identity.TokenPair
	meanwhile := func() {
		if _, _, err := w.org.UpsertDepartment(sys, identity.UpsertDepartmentRequest{OriginDepartmentID: "east", Name: "east", OriginParentID: "support"}); err != nil {
			t.Error(err)
		}
		elsewhere = w.session(t, w.reps[1])
	}
	w.deptWrites.afterRead.Store(&readHook{origin: "east", fn: meanwhile})
	if _, _, err := w.org.UpsertDepartment(sys, identity.UpsertDepartmentRequest{OriginDepartmentID: "east", Name: "East", OriginParentID: "sales"}); err != nil {
		t.Fatal(err)
	}
	if d := orgMust[*model.Department](t)(w.departments.ByID(ctx, w.tenant.ID, w.east.ID)); !strings.HasPrefix(d.Path, w.sales.Path) || d.Name != "East" {
		t.Fatalf("after both upserts: %+v; want East under sales", d)
	}
	c, _ := w.tokens.Verify(elsewhere.AccessToken)
	if !strings.HasPrefix(c.DepartmentPath, w.support.Path) {
		t.Fatalf("the token signed meanwhile carries %q, want a path under support", c.DepartmentPath)
	}
	wantRevoked(t, w.check(t, w.revocations, elsewhere.AccessToken), "department changed; sign in again")
}

// countingVersions counts the raises of token versions, one by one and
// many at once.
type countingVersions struct {
	identity.TokenVersionRepo
	bumps, bulk atomic.Int64
}

func (r *countingVersions) Bump(ctx context.Context, kind string, tenantID, subjectID int64, reason string, at time.Time) (*model.TokenVersion, error) {
	r.bumps.Add(1)
	return r.TokenVersionRepo.Bump(ctx, kind, tenantID, subjectID, reason, at)
}

func (r *countingVersions) BumpMany(ctx context.Context, kind string, tenantID int64, ids []int64, reason string, at time.Time) ([]model.TokenVersion, error) {
	r.bulk.Add(1)
	return r.TokenVersionRepo.BumpMany(ctx, kind, tenantID, ids, reason, at)
}

// A department move raises its members' token versions in one raise, under
// one revision, whatever their number (more than a page of the member list
// and more than a poll reads at once here): the sequence every raise of the
// fleet takes is taken once. Each member's access and refresh tokens end,
// here once the move commits and on another instance at its next poll,
// which reads them by revision (the instance that moved it has a clock a
// minute behind, so a read by time would not find them); those of other
// departments stay.
func TestAMoveRaisesItsMembersAtOnceUnderOneRevision(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	const added = 1200
	now := w.clock.Now()
	members := make([]model.User, added)
	for i := range members {
		members[i] = model.User{TenantID: w.tenant.ID, Name: "member " + strconv.Itoa(i), Role: model.RoleRep, Status: model.UserActive,
			DepartmentID: &w.east.ID, CreatedAt: now, UpdatedAt: now}
	}
	if err := w.db.CreateInBatches(&members, 500).Error; err != nil {
		t.Fatal(err)
	}
	members = append(members, *w.reps[1]) // rep2 is in east too
	tokens := make([]string, len(members))
	for i := range members {
		tok, err := w.tokens.IssueAccess(&members[i], w.east.Path, w.tenant.RateTier, 0)
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = tok
	}
	session, stays := w.session(t, w.reps[1]), w.session(t, w.reps[0])

	versions := &countingVersions{TokenVersionRepo: w.versions}
	behind := func() time.Time { return w.clock.Now().Add(-time.Minute) }
	here := identity.NewRevocations(versions, identity.RevocationOptions{Keep: 2 * time.Hour, Now: behind, AfterCommit: w.tx.AfterCommit})
	there := w.otherInstance(t)
	org := identity.NewOrg(identity.OrgDeps{Users: w.users, Departments: w.deptWrites, Refresh: w.refresh, Hasher: w.hasher,
		Now: behind, Revocations: here, Tx: w.tx})
	before, err := w.versions.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := org.UpsertDepartment(w.appCtx(w.app), identity.UpsertDepartmentRequest{OriginDepartmentID: "east", Name: "east", OriginParentID: "support"}); err != nil {
		t.Fatal(err)
	}
	if n, bulk := versions.bumps.Load(), versions.bulk.Load(); n != 0 || bulk != 1 {
		t.Fatalf("the move raised %d versions one by one and %d at once; want one raise of all %d members", n, bulk, len(members))
	}
	if after, err := w.versions.Revision(ctx); err != nil || after != before+1 {
		t.Fatalf("revision %d after the move, %d before (%v): want one revision for the move", after, before, err)
	}
	if err := there.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	for i, m := range members {
		v := orgMust[*model.TokenVersion](t)(w.versions.Current(ctx, model.TokenVersionUser, m.ID))
		if v.Version != 1 || v.Revision != before+1 || v.Reason != identity.RevokedDepartment {
			t.Fatalf("member %d after the move: %+v; want version 1 at revision %d", m.ID, v, before+1)
		}
		for name, r := range map[string]*identity.Revocations{"here": here, "there": there} {
			if err := w.check(t, r, tokens[i]); !errs.Is(err, errs.ReasonTokenRevoked) {
				t.Fatalf("member %d's token %s after the move: %v", m.ID, name, err)
			}
		}
	}
	wantRevoked(t, w.check(t, there, session.AccessToken), "department changed; sign in again")
	if _, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: session.RefreshToken}); !errs.Is(err, errs.ReasonUnauthenticated) {
		t.Fatalf("a moved member's refresh after the move: %v", err)
	}
	for name, r := range map[string]*identity.Revocations{"here": here, "there": there} {
		if err := w.check(t, r, stays.AccessToken); err != nil {
			t.Fatalf("the move revoked a token of sales %s: %v", name, err)
		}
	}
	if _, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: stays.RefreshToken}); err != nil {
		t.Fatalf("the move ended a refresh token of sales: %v", err)
	}
}

// An admin setting a user's password, while another admin disables the
// user and changes their email during its bcrypt round, writes the
// password and nothing it read before: the disable and the email stay.
func TestSettingAPasswordKeepsAConcurrentChange(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	admin := w.user(w.admin)
	target := w.reps[1]
	disabled, email, password := model.UserDisabled, "moved@org.test", "a password set by the admin"
	meanwhile := func() {
		if _, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: target.ID, Status: &disabled, Email: &email}); err != nil {
			t.Error(err)
		}
	}
	w.hasher.beforeHash.Store(&meanwhile)
	if _, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: target.ID, Password: &password}); err != nil {
		t.Fatal(err)
	}
	u := orgMust[*model.User](t)(w.users.ByID(ctx, w.tenant.ID, target.ID))
	if u.Status != model.UserDisabled || u.Email == nil || *u.Email != email {
		t.Fatalf("after the password was set: %+v; want the disable and the new email kept", u)
	}
	if !w.hasher.Matches(u.PasswordHash, password) {
		t.Fatal("the password the admin set was not written")
	}
}

// A user anonymised by an erasure while an admin changes their email and
// sets their password (during its bcrypt round) stays anonymised: the
// admin's change, made to the person as they were, writes nothing back,
// and is answered USER_ERASED.
func TestAChangeDuringAnErasureBringsNothingBack(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	admin := w.user(w.admin)
	target := w.reps[1]
	email, phone, password := "new-address@org.test", "13800138000", "a password set by the admin"
	meanwhile := func() {
		if err := w.privacy.AnonymiseUser(ctx, w.tenant.ID, target.ID); err != nil {
			t.Error(err)
		}
	}
	w.hasher.beforeHash.Store(&meanwhile)
	_, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: target.ID, Email: &email, Phone: &phone, Password: &password})
	wantOrgErr(t, err, "USER_ERASED", "id")
	u := orgMust[*model.User](t)(w.users.ByID(ctx, w.tenant.ID, target.ID))
	if u.Name != "" || u.Email != nil || u.Phone != nil || u.OriginUserID != nil || u.PasswordHash != "" || u.Status != model.UserDisabled {
		t.Fatalf("after an erasure during a change: %+v; want the user anonymised", u)
	}
}

// failingRefresh fails the next revocation of refresh tokens as a
// concurrent change in the way would.
type failingRefresh struct {
	identity.RefreshTokenRepo
	fail atomic.Bool
}

func (r *failingRefresh) RevokeUser(ctx context.Context, tenantID, userID int64, at time.Time) error {
	if r.fail.Swap(false) {
		return errs.Conflict("a concurrent change got in the way; try again")
	}
	return r.RefreshTokenRepo.RevokeUser(ctx, tenantID, userID, at)
}

func (r *failingRefresh) RevokeUsers(ctx context.Context, tenantID int64, userIDs []int64, at time.Time) error {
	if r.fail.Swap(false) {
		return errs.Conflict("a concurrent change got in the way; try again")
	}
	return r.RefreshTokenRepo.RevokeUsers(ctx, tenantID, userIDs, at)
}

// A change whose revocation fails is not kept: the upsert retried after a
// conflict (or the partner's retry) finds the change still to make and
// ends the tokens, rather than finding it made and ending nothing.
func TestUpsertRetriedAfterAFailedRevocationEndsTheTokens(t *testing.T) {
	w := newOrgWorld(t)
	ctx := w.appCtx(w.app)
	u, _, err := w.org.UpsertUser(ctx, identity.UpsertUserRequest{OriginUserID: "mirror", Name: "Mirror", Email: "mirror@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	refresh := &failingRefresh{RefreshTokenRepo: w.refresh.RefreshTokens}
	org := identity.NewOrg(identity.OrgDeps{Users: w.users, Departments: w.deptWrites, Refresh: refresh, Hasher: w.hasher,
		Now: w.clock.Now, Revocations: w.revocations, Tx: w.tx})
	before, err := w.versions.Current(context.Background(), model.TokenVersionUser, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	refresh.fail.Store(true)
	got, _, err := org.UpsertUser(ctx, identity.UpsertUserRequest{OriginUserID: "mirror", Name: "Mirror", Email: "mirror@acme.test", Role: model.RoleManager})
	if err != nil || got.Role != model.RoleManager {
		t.Fatalf("upsert: %+v, %v", got, err)
	}
	after, err := w.versions.Current(context.Background(), model.TokenVersionUser, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version <= before.Version {
		t.Fatalf("token version %d after a new role, %d before: the tokens were not ended", after.Version, before.Version)
	}
}

// So is a department's move: retried after its members' revocation failed,
// it ends their tokens.
func TestMoveRetriedAfterAFailedRevocationEndsTheTokens(t *testing.T) {
	w := newOrgWorld(t)
	ctx := w.appCtx(w.app)
	refresh := &failingRefresh{RefreshTokenRepo: w.refresh.RefreshTokens}
	org := identity.NewOrg(identity.OrgDeps{Users: w.users, Departments: w.deptWrites, Refresh: refresh, Hasher: w.hasher,
		Now: w.clock.Now, Revocations: w.revocations, Tx: w.tx})
	member := w.reps[1] // in east
	before, err := w.versions.Current(context.Background(), model.TokenVersionUser, member.ID)
	if err != nil {
		t.Fatal(err)
	}
	refresh.fail.Store(true)
	d, _, err := org.UpsertDepartment(ctx, identity.UpsertDepartmentRequest{OriginDepartmentID: "east", Name: "east", OriginParentID: "support"})
	if err != nil || d.ParentID == nil || *d.ParentID != w.support.ID {
		t.Fatalf("move: %+v, %v", d, err)
	}
	after, err := w.versions.Current(context.Background(), model.TokenVersionUser, member.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version <= before.Version {
		t.Fatalf("token version %d after a move, %d before: the tokens were not ended", after.Version, before.Version)
	}
}

// A raise whose transaction commits long after it was written (a large
// department moved, a transaction held up by locks) is read by the other
// instances once it commits: they read by revision, which the raise takes
// in commit order, not by the time it was written.
func TestARevocationCommittedLateReachesTheOtherInstances(t *testing.T) {
	w := newOrgWorld(t)
	rep := w.reps[0]
	pair := w.session(t, rep)
	here := identity.NewRevocations(w.versions, identity.RevocationOptions{Keep: 2 * time.Hour, Now: w.clock.Now, AfterCommit: w.tx.AfterCommit})
	there := w.otherInstance(t)
	err := w.tx.InTx(context.Background(), func(ctx context.Context) error {
		if err := here.Revoke(ctx, model.TokenVersionUser, rep.TenantID, rep.ID, identity.RevokedLogout); err != nil {
			return err
		}
		// The transaction goes on for half a minute; the other instance
		// polls meanwhile, and sees nothing yet.
		w.clock.Add(30 * time.Second)
		return there.Poll(context.Background())
	})
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Add(time.Second)
	polltest.Until(t, 5*time.Second, 10*time.Millisecond, "the late raise, read by the other instance", func() bool {
		if err := there.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		return w.check(t, there, pair.AccessToken) != nil
	})
	wantRevoked(t, w.check(t, there, pair.AccessToken), "signed out")
}

// A raise made by an instance whose clock is a minute behind is read by the
// other instances at their next poll: they read by revision, not by the
// time the raise was stamped with.
func TestARevocationStampedByASlowClockReachesTheOtherInstances(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	rep := w.reps[0]
	pair := w.session(t, rep)
	there := w.otherInstance(t)
	w.clock.Add(time.Second)
	if err := there.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	slow := identity.NewRevocations(w.versions, identity.RevocationOptions{Keep: 2 * time.Hour,
		Now: func() time.Time { return w.clock.Now().Add(-time.Minute) }})
	if err := slow.Revoke(ctx, model.TokenVersionUser, rep.TenantID, rep.ID, identity.RevokedLogout); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(time.Second)
	if err := there.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, there, pair.AccessToken), "signed out")
}

// An instance keeps a raise for the longest token lifetime after it read
// it, by its own clock: one stamped ten minutes behind by the instance that
// made it still refuses, two hours (the longest lifetime here) after it was
// read less a few seconds, a token signed just before it.
func TestARevocationStampedByASlowClockIsKeptItsWholeTime(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	rep := w.reps[0]
	slow := identity.NewRevocations(w.versions, identity.RevocationOptions{Keep: 2 * time.Hour,
		Now: func() time.Time { return w.clock.Now().Add(-10 * time.Minute) }})
	if err := slow.Revoke(ctx, model.TokenVersionUser, rep.TenantID, rep.ID, identity.RevokedLogout); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(time.Second)
	there := w.otherInstance(t)
	signed := &identity.Claims{Kind: identity.TokenAccess, TenantID: rep.TenantID, Version: 0,
		RegisteredClaims: jwt.RegisteredClaims{Subject: strconv.FormatInt(rep.ID, 10)}}
	wantRevoked(t, there.Check(signed), "signed out")
	// Polls go on; each minute one of them drops what no token needs.
	for range 2*60 - 1 {
		w.clock.Add(time.Minute)
		if err := there.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wantRevoked(t, there.Check(signed), "signed out")
}

// Raises are stamped with the store's clock, and an instance's first poll
// reaches back by it: an app disabled by an instance whose clock runs ten
// minutes behind is refused by one that starts 1h55m later (within the app
// token's two hours) with a clock ten minutes ahead, for the rest of the
// token's life. By their own clocks the raise was made 2h15m before the
// start, beyond the two hours the first poll reads.
func TestALateStartReadsARaiseMadeByASlowClock(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	const appID = 4242
	signed := &identity.Claims{Kind: identity.TokenApp, TenantID: w.tenant.ID, AppID: appID, Version: 0,
		RegisteredClaims: jwt.RegisteredClaims{Subject: "app:4242", ExpiresAt: jwt.NewNumericDate(w.clock.Now().Add(2 * time.Hour))}}
	slow := identity.NewRevocations(w.versions, identity.RevocationOptions{Keep: 2 * time.Hour,
		Now: func() time.Time { return w.clock.Now().Add(-10 * time.Minute) }})
	if err := slow.Revoke(ctx, model.TokenVersionApp, w.tenant.ID, appID, identity.RevokedAppDisable); err != nil {
		t.Fatal(err)
	}
	var stamped time.Time
	if err := w.db.Raw("SELECT changed_at FROM token_versions WHERE kind = ? AND subject_id = ?", model.TokenVersionApp, appID).Row().Scan(&stamped); err != nil {
		t.Fatal(err)
	}
	if !stamped.Equal(w.clock.Now()) {
		t.Fatalf("the raise was stamped %v, by the raising instance's clock; want the store's %v", stamped, w.clock.Now())
	}
	w.clock.Add(time.Hour + 55*time.Minute)
	late := identity.NewRevocations(w.versions, identity.RevocationOptions{Keep: 2 * time.Hour,
		Now: func() time.Time { return w.clock.Now().Add(10 * time.Minute) }})
	if err := late.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		wantRevoked(t, late.Check(signed), "the app was disabled")
		w.clock.Add(time.Minute)
		if err := late.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// During a rolling upgrade, an instance of a release before migration 0025
// raises versions without taking a revision: a new row gets none, and a row
// raised before keeps the one it had. The instances of this release read
// those raises at their next poll all the same.
func TestARevocationByAnOlderReleaseReachesTheOtherInstances(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	raisedBefore, never := w.reps[0], w.reps[1]
	if err := w.revocations.Revoke(ctx, model.TokenVersionUser, raisedBefore.TenantID, raisedBefore.ID, identity.RevokedLogout); err != nil {
		t.Fatal(err)
	}
	there := w.otherInstance(t)
	first, second := w.session(t, raisedBefore), w.session(t, never)
	w.clock.Add(time.Second)
	if err := there.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	// What the older release's raise writes.
	now := w.clock.Now()
	if err := w.db.Exec("UPDATE token_versions SET version = version + 1, reason = ?, changed_at = ? WHERE kind = ? AND subject_id = ?",
		identity.RevokedPassword, now, model.TokenVersionUser, raisedBefore.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := w.db.Exec("INSERT INTO token_versions (kind, subject_id, tenant_id, version, reason, changed_at) VALUES (?, ?, ?, 1, ?, ?)",
		model.TokenVersionUser, never.ID, never.TenantID, identity.RevokedDisabled, now).Error; err != nil {
		t.Fatal(err)
	}
	w.clock.Add(time.Second)
	if err := there.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, there, first.AccessToken), "password")
	wantRevoked(t, w.check(t, there, second.AccessToken), "disabled")
}

// unreadable is a token version store that fails every read while down.
type unreadable struct {
	identity.TokenVersionRepo
	down atomic.Bool
}

var errStoreDown = errors.New("the database does not answer")

func (u *unreadable) Revision(ctx context.Context) (int64, error) {
	if u.down.Load() {
		return 0, errStoreDown
	}
	return u.TokenVersionRepo.Revision(ctx)
}

func (u *unreadable) RaisedAfter(ctx context.Context, revision, afterID int64, limit int) ([]model.TokenVersion, error) {
	if u.down.Load() {
		return nil, errStoreDown
	}
	return u.TokenVersionRepo.RaisedAfter(ctx, revision, afterID, limit)
}

func (u *unreadable) ChangedSince(ctx context.Context, since time.Time) ([]model.TokenVersion, error) {
	if u.down.Load() {
		return nil, errStoreDown
	}
	return u.TokenVersionRepo.ChangedSince(ctx, since)
}

// An instance whose polls fail takes tokens while its last successful
// poll is within the bound, then refuses every one as the store being
// unavailable (it may have missed a revocation made elsewhere), and takes
// them again once a poll succeeds. One that never read the versions
// refuses from the start; one that does not poll (no Start) never goes
// stale.
func TestAnInstanceThatCannotPollRefusesTokensPastTheBound(t *testing.T) {
	w := newOrgWorld(t)
	pair := w.session(t, w.reps[0])
	store := &unreadable{TokenVersionRepo: w.versions}
	r := identity.NewRevocations(store, identity.RevocationOptions{Keep: 2 * time.Hour, Now: w.clock.Now,
		Interval: 10 * time.Millisecond, StaleAfter: 200 * time.Millisecond})
	r.Start(context.Background())
	t.Cleanup(r.Stop)
	if err := w.check(t, r, pair.AccessToken); err != nil {
		t.Fatalf("polling: %v", err)
	}
	store.down.Store(true)
	cut := time.Now()
	polltest.Until(t, 5*time.Second, 5*time.Millisecond, "a refusal once the polls fail past the bound", func() bool {
		return w.check(t, r, pair.AccessToken) != nil
	})
	if took := time.Since(cut); took < 150*time.Millisecond {
		t.Fatalf("refused %v after the polls began to fail, within the bound", took)
	}
	if err := w.check(t, r, pair.AccessToken); !errs.Is(err, errs.ReasonDependencyUnavailable) || errs.From(err).Status != 503 {
		t.Fatalf("got %v, want DEPENDENCY_UNAVAILABLE (503)", err)
	}
	store.down.Store(false)
	polltest.Until(t, 5*time.Second, 5*time.Millisecond, "the token taken again once a poll succeeds", func() bool {
		return w.check(t, r, pair.AccessToken) == nil
	})

	store.down.Store(true)
	never := identity.NewRevocations(store, identity.RevocationOptions{Keep: 2 * time.Hour, Now: w.clock.Now, Interval: 10 * time.Millisecond})
	never.Start(context.Background())
	t.Cleanup(never.Stop)
	if err := w.check(t, never, pair.AccessToken); !errs.Is(err, errs.ReasonDependencyUnavailable) {
		t.Fatalf("an instance that never read the versions: %v, want DEPENDENCY_UNAVAILABLE", err)
	}
	if err := w.check(t, identity.NewRevocations(store, identity.RevocationOptions{Keep: 2 * time.Hour, Now: w.clock.Now}), pair.AccessToken); err != nil {
		t.Fatalf("an instance that does not poll: %v", err)
	}
}

// slowPages is a token version store whose reads by revision take a
// fixed time each (a round trip and the rows), as a database's do.
type slowPages struct {
	identity.TokenVersionRepo
	each time.Duration
}

func (s *slowPages) RaisedAfter(ctx context.Context, revision, afterID int64, limit int) ([]model.TokenVersion, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(s.each):
	}
	return s.TokenVersionRepo.RaisedAfter(ctx, revision, afterID, limit)
}

// A backlog of raises longer to read than one poll may take (a large
// department moved in another tenant) is read across polls, each going on
// from where the last was cut short, and the store answering each batch
// keeps the instance fresh: an unrelated token is never refused as the
// store being unavailable, and the last member moved is refused once the
// backlog is read.
func TestABacklogLongerThanOnePollIsReadAcrossPolls(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	pair := w.session(t, w.reps[0])
	// A poll may take 800 ms, a batch of 1,000 takes 300 ms and more
	// (about 200 ms of it the embedded store's under the race detector):
	// the 5,500 raises below take several polls.
	store := &slowPages{TokenVersionRepo: w.versions, each: 300 * time.Millisecond}
	r := identity.NewRevocations(store, identity.RevocationOptions{Keep: 2 * time.Hour, Now: w.clock.Now,
		Interval: 200 * time.Millisecond, StaleAfter: 3 * time.Second})
	r.Start(ctx)
	t.Cleanup(r.Stop)
	ids := make([]int64, 5500)
	for i := range ids {
		ids[i] = 1_000_000 + int64(i)
	}
	last, err := w.tokens.IssueAccess(&model.User{ID: ids[len(ids)-1], TenantID: w.other.ID, Role: model.RoleRep}, "", "standard", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.versions.BumpMany(ctx, model.TokenVersionUser, w.other.ID, ids, identity.RevokedDepartment, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// On a loaded machine a poll can outlast StaleAfter, and every token is
	// refused 503 until the next one: that is the staleness rule, not this
	// test's subject, so such answers are waited out.
	stale := func(err error) bool { return errs.Is(err, errs.ReasonDependencyUnavailable) }
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := w.check(t, r, last)
		if err != nil && !stale(err) {
			wantRevoked(t, err, "department")
			break
		}
		if err := w.check(t, r, pair.AccessToken); err != nil && !stale(err) {
			t.Fatalf("an unrelated token refused while the backlog is read: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the last member moved is still taken 20 s after the move: the backlog is never read")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := w.check(t, r, pair.AccessToken); err != nil && !stale(err) {
		t.Fatalf("an unrelated token after the backlog: %v", err)
	}
}

// historyFails is a token version store whose read by time fails (a
// statement timeout), while the read of the revision answers at once.
type historyFails struct {
	identity.TokenVersionRepo
}

func (h *historyFails) ChangedSince(context.Context, time.Time) ([]model.TokenVersion, error) {
	return nil, errors.New("Error 1969: Query execution was interrupted (max_statement_time exceeded)")
}

// An instance whose first read of the raises within the longest token
// lifetime fails knows of no revocation: it refuses every token, a token
// revoked before it started included, however quickly the store answers
// its other reads. Stop ends a poll in flight.
func TestAnInstanceThatCannotReadTheRecentRaisesRefusesTokens(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	rep := w.reps[0]
	pair := w.session(t, rep)
	if err := w.revocations.Revoke(ctx, model.TokenVersionUser, rep.TenantID, rep.ID, identity.RevokedLogout); err != nil {
		t.Fatal(err)
	}
	r := identity.NewRevocations(&historyFails{TokenVersionRepo: w.versions}, identity.RevocationOptions{Keep: 2 * time.Hour,
		Now: w.clock.Now, Interval: 10 * time.Millisecond, StaleAfter: 200 * time.Millisecond})
	r.Start(ctx)
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if err := w.check(t, r, pair.AccessToken); !errs.Is(err, errs.ReasonDependencyUnavailable) {
			t.Fatalf("a token revoked before the instance started, with the recent raises unread: %v, want DEPENDENCY_UNAVAILABLE", err)
		}
	}
	stopped := time.Now()
	r.Stop()
	if took := time.Since(stopped); took > time.Second {
		t.Fatalf("Stop took %v", took)
	}
}

// Known judges a token by the revocations this instance has read, even
// when it can no longer read the others' (Check then refuses every token):
// a token it knew to be revoked stays revoked, another is not.
func TestKnownRevocationsOutliveAnOutage(t *testing.T) {
	w := newOrgWorld(t)
	kept, revoked := w.session(t, w.reps[0]), w.session(t, w.reps[1])
	store := &unreadable{TokenVersionRepo: w.versions}
	r := identity.NewRevocations(store, identity.RevocationOptions{Keep: 2 * time.Hour, Now: w.clock.Now,
		Interval: 10 * time.Millisecond, StaleAfter: 200 * time.Millisecond})
	r.Start(context.Background())
	t.Cleanup(r.Stop)
	if err := r.Revoke(context.Background(), model.TokenVersionUser, w.reps[1].TenantID, w.reps[1].ID, identity.RevokedLogout); err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	polltest.Until(t, 5*time.Second, 5*time.Millisecond, "refusals once the polls fail past the bound", func() bool {
		return errs.Is(w.check(t, r, kept.AccessToken), errs.ReasonDependencyUnavailable)
	})
	known := func(token string) error {
		c, err := w.tokens.Verify(token)
		if err != nil {
			t.Fatal(err)
		}
		return r.Known(c)
	}
	if err := known(kept.AccessToken); err != nil {
		t.Fatalf("a token never revoked, in the outage: %v", err)
	}
	wantRevoked(t, known(revoked.AccessToken), "")
}
