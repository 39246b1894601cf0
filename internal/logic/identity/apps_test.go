package identity_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// appToken signs in as an app and fails the test when it cannot.
func (w *orgWorld) appToken(t *testing.T, key, secret string) string {
	t.Helper()
	tok, err := w.auth.CreateAppToken(context.Background(), identity.AppTokenRequest{AppKey: key, AppSecret: secret})
	if err != nil {
		t.Fatalf("app token: %v", err)
	}
	return tok.AccessToken
}

func (w *orgWorld) apps() *identity.Apps {
	return w.appsCapped(0)
}

// appsCapped lets a tenant have max apps (0: the default).
func (w *orgWorld) appsCapped(max int) *identity.Apps {
	return identity.NewApps(identity.AppsDeps{Apps: w.appRepo, Tenants: w.tenants, Tx: w.tx, Hasher: w.hasher, Revocations: w.revocations, Now: w.clock.Now, MaxPerTenant: max})
}

// An app's rate tier is its tenant's: shown so, stored so when the app is
// made, and signed into its tokens, an app stored as standard by an
// earlier release too. Another tenant's apps keep that tenant's.
func TestAnAppsRateTierIsItsTenants(t *testing.T) {
	w := newOrgWorld(t)
	apps, admin, ctx := w.apps(), w.user(w.admin), context.Background()
	if w.tenant.RateTier != "premium" || w.other.RateTier != "standard" {
		t.Fatalf("tiers %q, %q", w.tenant.RateTier, w.other.RateTier)
	}
	made, err := apps.Create(admin, identity.CreateAppRequest{Name: "Dialer", Scopes: []string{"ingest"}})
	if err != nil {
		t.Fatal(err)
	}
	provisioned, err := w.provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "CRM sync", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	old, err := w.provision.EnsureApp(ctx, identity.NewApp{TenantID: w.other.ID, Name: "Other's", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	// As an earlier release stored every app.
	if err := w.db.Model(&model.App{}).Where("id = ?", provisioned.App.ID).Update("rate_tier", "standard").Error; err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := w.db.Model(&model.App{}).Where("id = ?", made.App.ID).Pluck("rate_tier", &stored).Error; err != nil || stored != "premium" || made.App.RateTier != "premium" {
		t.Fatalf("a new app: stored %q (%v), shown %q; want premium", stored, err, made.App.RateTier)
	}
	for _, c := range []struct {
		app  *model.App
		key  string
		tier string
	}{{made.App, made.App.AppKey, "premium"}, {provisioned.App, provisioned.App.AppKey, "premium"}, {old.App, old.App.AppKey, "standard"}} {
		secret, err := w.provision.EnsureApp(ctx, identity.NewApp{TenantID: c.app.TenantID, Name: c.app.Name, RotateSecret: true})
		if err != nil {
			t.Fatal(err)
		}
		claims, err := w.tokens.Verify(w.appToken(t, c.key, secret.Secret))
		if err != nil || claims.Tier != c.tier {
			t.Errorf("app %q: token tier %q (%v), want %q", c.app.Name, claims.Tier, err, c.tier)
		}
	}
	page, err := apps.List(admin, identity.ListAppsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range page.Apps {
		if a.RateTier != "premium" {
			t.Errorf("listed app %q: tier %q, want its tenant's", a.Name, a.RateTier)
		}
	}
	if got, err := apps.Get(admin, provisioned.App.ID); err != nil || got.RateTier != "premium" {
		t.Errorf("app %q: %v, %v; want its tenant's tier", provisioned.App.Name, got, err)
	}
}

func TestAppsAreForTheTenantsAdmins(t *testing.T) {
	w := newOrgWorld(t)
	apps := w.apps()
	admin := w.user(w.admin)
	req := identity.CreateAppRequest{Name: "Dialer", Scopes: []string{"ingest"}}
	for name, ctx := range map[string]context.Context{
		"manager": w.user(w.manager), "rep": w.user(w.reps[0]), "app": w.appCtx(w.app), "anonymous": context.Background(),
	} {
		if _, err := apps.Create(ctx, req); err == nil || errs.From(err).Status/100 != 4 {
			t.Fatalf("%s created an app: %v", name, err)
		}
		if _, err := apps.List(ctx, identity.ListAppsRequest{}); err == nil {
			t.Fatalf("%s listed the apps", name)
		}
	}

	for _, c := range []struct {
		req          identity.CreateAppRequest
		reason, fiel string
	}{
		{identity.CreateAppRequest{Name: " ", Scopes: []string{"read"}}, "INVALID_ARGUMENT", "name"},
		{identity.CreateAppRequest{Name: "X", Scopes: nil}, "INVALID_ARGUMENT", "scopes"},
		{identity.CreateAppRequest{Name: "X", Scopes: []string{"read", "admin"}}, "INVALID_ARGUMENT", "scopes"},
		{identity.CreateAppRequest{Name: "X", Scopes: []string{"read search"}}, "INVALID_ARGUMENT", "scopes"},
		{identity.CreateAppRequest{Name: "CRM", Scopes: []string{"read"}}, "ALREADY_EXISTS", "name"},
	} {
		_, err := apps.Create(admin, c.req)
		wantOrgErr(t, err, c.reason, c.fiel)
	}

	created, err := apps.Create(admin, identity.CreateAppRequest{Name: "Dialer", Scopes: []string{"org", "ingest", "org"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.App.Scopes != "ingest org" || created.Secret == "" || created.App.SecretHash == created.Secret || created.App.Status != model.AppActive {
		t.Fatalf("created %+v", created.App)
	}
	w.appToken(t, created.App.AppKey, created.Secret)
	list, err := apps.List(admin, identity.ListAppsRequest{})
	if err != nil || len(list.Apps) != 3 || list.NextPageToken != "" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	// Another tenant's admin finds nothing, and cannot change it.
	other := w.user(w.otherAdmin)
	_, err = apps.Get(other, created.App.ID)
	wantOrgErr(t, err, "APP_NOT_FOUND", "")
	_, err = apps.Disable(other, created.App.ID)
	wantOrgErr(t, err, "APP_NOT_FOUND", "")
	wantOrgErr(t, apps.Delete(other, created.App.ID), "APP_NOT_FOUND", "")
	if list, err := apps.List(other, identity.ListAppsRequest{}); err != nil || len(list.Apps) != 0 {
		t.Fatalf("the other tenant lists %d apps: %v", len(list.Apps), err)
	}
	// Renaming onto another app's name is a conflict; onto its own is not.
	taken := "CRM"
	_, err = apps.Update(admin, identity.UpdateAppRequest{ID: created.App.ID, Name: &taken})
	wantOrgErr(t, err, "ALREADY_EXISTS", "name")
	same := "Dialer"
	if _, err := apps.Update(admin, identity.UpdateAppRequest{ID: created.App.ID, Name: &same}); err != nil {
		t.Fatal(err)
	}
}

func TestDisablingDeletingAndRescopingEndAnAppsTokens(t *testing.T) {
	w := newOrgWorld(t)
	apps, admin, ctx := w.apps(), w.user(w.admin), context.Background()
	tok := w.appToken(t, w.app.AppKey, w.appSecret)
	fleet := w.otherInstance(t)

	// New scopes end the tokens of the old ones, here and on the other instance.
	scopes := []string{"read"}
	app, err := apps.Update(admin, identity.UpdateAppRequest{ID: w.app.ID, Scopes: &scopes})
	if err != nil || app.Scopes != "read" {
		t.Fatalf("re-scope: %+v %v", app, err)
	}
	wantRevoked(t, w.check(t, w.revocations, tok), "scopes")
	if err := fleet.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, fleet, tok), "scopes")
	tok = w.appToken(t, w.app.AppKey, w.appSecret)
	if c, _ := w.tokens.Verify(tok); len(c.AppScopes) != 1 || c.AppScopes[0] != "read" {
		t.Fatalf("new token scopes %v", c.AppScopes)
	}
	// Renaming alone leaves the tokens.
	name := "CRM 2"
	if _, err := apps.Update(admin, identity.UpdateAppRequest{ID: w.app.ID, Name: &name}); err != nil {
		t.Fatal(err)
	}
	if err := w.check(t, w.revocations, tok); err != nil {
		t.Fatal(err)
	}

	// Disabled: tokens end and no new one is given, but only to the secret's holder.
	if _, err := apps.Disable(admin, w.app.ID); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, w.revocations, tok), "disabled")
	_, err = w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: w.appSecret})
	wantOrgErr(t, err, "APP_DISABLED", "")
	_, err = w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: "a guess"})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
	// Enabled again: new tokens work, the old stay revoked.
	if _, err := apps.Enable(admin, w.app.ID); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, w.revocations, tok), "disabled")
	tok = w.appToken(t, w.app.AppKey, w.appSecret)
	if err := w.check(t, w.revocations, tok); err != nil {
		t.Fatal(err)
	}

	// Deleted: the tokens end and the secret opens nothing.
	if err := apps.Delete(admin, w.app.ID); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, w.revocations, tok), "deleted")
	_, err = w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: w.appSecret})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
	_, err = apps.Get(admin, w.app.ID)
	wantOrgErr(t, err, "APP_NOT_FOUND", "")
	// The other app was never touched.
	if err := w.check(t, w.revocations, w.appToken(t, w.readOnlyApp.AppKey, w.readOnlyPass)); err != nil {
		t.Fatal(err)
	}
}

func TestRotatingWithAGraceEndsTheOldSecretsTokensWithIt(t *testing.T) {
	w := newOrgWorld(t)
	apps, admin, ctx := w.apps(), w.user(w.admin), context.Background()
	for _, g := range []time.Duration{-time.Second, identity.MaxSecretGrace + time.Second} {
		_, err := apps.RotateSecret(admin, identity.RotateSecretRequest{ID: w.app.ID, Grace: g})
		wantOrgErr(t, err, "INVALID_ARGUMENT", "grace_seconds")
	}
	before := w.appToken(t, w.app.AppKey, w.appSecret)
	rotated, err := apps.RotateSecret(admin, identity.RotateSecretRequest{ID: w.app.ID, Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if app, err := apps.Get(admin, w.app.ID); err != nil || app.OldSecretUntil == nil || !app.OldSecretUntil.Equal(w.clock.Now().Add(time.Hour)) {
		t.Fatalf("the grace: %+v %v", app, err)
	}
	// An instance that starts during the grace learns of it too.
	w.clock.Add(30 * time.Minute)
	fleet := w.otherInstance(t)
	during := w.appToken(t, w.app.AppKey, w.appSecret) // the old secret, in its grace
	fresh := w.appToken(t, w.app.AppKey, rotated.Secret)
	for _, r := range []*identity.Revocations{w.revocations, fleet} {
		for _, tok := range []string{before, during, fresh} {
			if err := w.check(t, r, tok); err != nil {
				t.Fatalf("during the grace: %v", err)
			}
		}
	}

	w.clock.Add(30*time.Minute + time.Millisecond)
	if err := fleet.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*identity.Revocations{w.revocations, fleet} {
		wantRevoked(t, w.check(t, r, before), "secret")
		wantRevoked(t, w.check(t, r, during), "secret")
		if err := w.check(t, r, fresh); err != nil {
			t.Fatalf("the new secret's token after the grace: %v", err)
		}
	}
	_, err = w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: w.appSecret})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
	if app, err := apps.Get(admin, w.app.ID); err != nil || app.OldSecretUntil != nil || app.OldSecretHash != "" {
		t.Fatalf("an ended grace is still shown: %+v %v", app, err)
	}

	// Without a grace, the old secret and its tokens end at once.
	again, err := apps.RotateSecret(admin, identity.RotateSecretRequest{ID: w.app.ID})
	if err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, w.check(t, w.revocations, fresh), "secret")
	_, err = w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: rotated.Secret})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
	w.appToken(t, w.app.AppKey, again.Secret)

	// Disabling during a grace ends it: the old secret opens nothing after.
	third, err := apps.RotateSecret(admin, identity.RotateSecretRequest{ID: w.app.ID, Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w.appToken(t, w.app.AppKey, again.Secret)
	if _, err := apps.Disable(admin, w.app.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := apps.Enable(admin, w.app.ID); err != nil {
		t.Fatal(err)
	}
	_, err = w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: again.Secret})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
	w.appToken(t, w.app.AppKey, third.Secret)
}

func TestOrgScopeAndTheAdminsAppsCannotTouch(t *testing.T) {
	w := newOrgWorld(t)
	sys := w.user(w.admin)
	crm := w.appCtx(w.app)
	// Apps without org mirror no one: ingest no longer suffices.
	ingestOnly := w.appCtx(&model.App{TenantID: w.tenant.ID, ID: 999, Scopes: "ingest read search"})
	_, _, err := w.org.UpsertUser(ingestOnly, identity.UpsertUserRequest{OriginUserID: "u-1", Name: "U"})
	wantOrgErr(t, err, "PERMISSION_DENIED", "")
	_, _, err = w.org.UpsertDepartment(ingestOnly, identity.UpsertDepartmentRequest{OriginDepartmentID: "d-1", Name: "D"})
	wantOrgErr(t, err, "PERMISSION_DENIED", "")
	_, err = w.org.ListUsers(ingestOnly, identity.ListUsersRequest{})
	wantOrgErr(t, err, "PERMISSION_DENIED", "")
	if _, err := w.org.ListUsers(crm, identity.ListUsersRequest{}); err != nil {
		t.Fatal(err)
	}

	// No app makes an admin, new or existing.
	_, _, err = w.org.UpsertUser(crm, identity.UpsertUserRequest{OriginUserID: "u-1", Name: "U", Role: "admin"})
	wantOrgErr(t, err, "PERMISSION_DENIED", "role")
	if _, _, err := w.org.UpsertUser(crm, identity.UpsertUserRequest{OriginUserID: "u-1", Name: "U", Email: "u1@acme.test"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.org.UpsertUser(crm, identity.UpsertUserRequest{OriginUserID: "u-1", Name: "U", Email: "u1@acme.test", Role: "admin"})
	wantOrgErr(t, err, "PERMISSION_DENIED", "role")

	// An admin the partner mirrors (made admin by a real admin).
	boss := identity.UpsertUserRequest{OriginUserID: "boss", Name: "Boss", Email: "boss@acme.test", Phone: "13900000009", Role: "admin"}
	b, _, err := w.org.UpsertUser(sys, boss)
	if err != nil {
		t.Fatal(err)
	}
	// The app cannot take the account by its email or phone.
	steal := boss
	steal.Email = "attacker@evil.test"
	_, _, err = w.org.UpsertUser(crm, steal)
	wantOrgErr(t, err, "PERMISSION_DENIED", "email")
	steal = boss
	steal.Phone = "13900000666"
	_, _, err = w.org.UpsertUser(crm, steal)
	wantOrgErr(t, err, "PERMISSION_DENIED", "phone")
	// It may rename, move and (with another active admin) disable an admin,
	// but not bring a disabled admin back.
	renamed := boss
	renamed.Name, renamed.OriginDepartmentID = "Boss 2", "sales"
	if _, _, err := w.org.UpsertUser(crm, renamed); err != nil {
		t.Fatal(err)
	}
	off := renamed
	off.Status = model.UserDisabled
	if _, _, err := w.org.UpsertUser(crm, off); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.org.UpsertUser(crm, renamed)
	wantOrgErr(t, err, "PERMISSION_DENIED", "status")
	if _, _, err := w.org.UpsertUser(sys, renamed); err != nil {
		t.Fatal(err)
	}

	// Boss disables the first admin; Boss is now the last active admin,
	// whom no app and no admin disables or demotes.
	disabled, rep := model.UserDisabled, model.RoleRep
	if _, err := w.org.UpdateUser(w.user(b), identity.UpdateUserRequest{ID: w.admin.ID, Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.org.UpsertUser(crm, off)
	wantOrgErr(t, err, "LAST_ADMIN", "status")
	demoted := renamed
	demoted.Role = model.RoleRep
	_, _, err = w.org.UpsertUser(crm, demoted)
	wantOrgErr(t, err, "LAST_ADMIN", "role")
	if e := errs.From(err); e.Status != 409 {
		t.Fatalf("last admin answered %d", e.Status)
	}
	// An admin's token still working for a moment (not yet refused) meets
	// the same rule over the web API.
	_, err = w.org.UpdateUser(sys, identity.UpdateUserRequest{ID: b.ID, Role: &rep})
	wantOrgErr(t, err, "LAST_ADMIN", "role")
	_, err = w.org.UpdateUser(sys, identity.UpdateUserRequest{ID: b.ID, Status: &disabled})
	wantOrgErr(t, err, "LAST_ADMIN", "status")
}

// A grace longer than every token's lifetime: an instance that starts
// after the rotation has left its poll window still learns of the grace,
// and no instance forgets it before it ends.
func TestALongGraceIsKnownToInstancesStartedDuringIt(t *testing.T) {
	w := newOrgWorld(t)
	apps, admin, ctx := w.apps(), w.user(w.admin), context.Background()
	rotated, err := apps.RotateSecret(admin, identity.RotateSecretRequest{ID: w.app.ID, Grace: 6 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Add(3 * time.Hour) // past the 2 h the instances keep raises for
	if err := w.revocations.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(time.Minute) // a second poll a minute later prunes
	if err := w.revocations.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	late := w.otherInstance(t)
	old := w.appToken(t, w.app.AppKey, w.appSecret)
	fresh := w.appToken(t, w.app.AppKey, rotated.Secret)
	for _, r := range []*identity.Revocations{w.revocations, late} {
		if err := w.check(t, r, old); err != nil {
			t.Fatalf("the old secret's token in its grace: %v", err)
		}
	}
	w.clock.Add(3 * time.Hour)
	for _, r := range []*identity.Revocations{w.revocations, late} {
		if err := r.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		wantRevoked(t, w.check(t, r, old), "secret")
		if err := w.check(t, r, fresh); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSeedingGivesAnExistingAppTheScopesAskedFor(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	tok := w.appToken(t, w.app.AppKey, w.appSecret)
	creds, err := w.provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "CRM", Scopes: []string{"ingest", "read", "search", "org"}})
	if err != nil || creds.Secret != "" || creds.App.Scopes != "ingest read search org" {
		t.Fatalf("ensure: %+v %v", creds, err)
	}
	wantRevoked(t, w.check(t, w.revocations, tok), "scopes")
	_, err = w.provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "CRM", Scopes: []string{"everything"}})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "scopes")
	_, err = w.provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "New"})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "scopes")
}

// A rotation hashes the new secret after reading the app: a disable or a
// cut of its scopes stored meanwhile stays, and the new secret's tokens
// carry the cut scopes.
func TestRotationKeepsAConcurrentChange(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	apps := w.apps()
	admin := w.user(w.admin)
	during := func(f func()) { w.hasher.beforeHash.Store(&f) }

	during(func() {
		if _, err := apps.Update(admin, identity.UpdateAppRequest{ID: w.app.ID, Scopes: &[]string{"read"}}); err != nil {
			t.Error(err)
		}
	})
	rotated, err := apps.RotateSecret(admin, identity.RotateSecretRequest{ID: w.app.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got := orgMust[*model.App](t)(w.appRepo.ByID(ctx, w.tenant.ID, w.app.ID)).Scopes; got != "read" {
		t.Fatalf("scopes cut during a rotation are %q again", got)
	}
	if rotated.App.Scopes != "read" {
		t.Fatalf("the rotation answered scopes %q", rotated.App.Scopes)
	}
	c, err := w.tokens.Verify(w.appToken(t, w.app.AppKey, rotated.Secret))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Scope().AppScopes; len(got) != 1 || got[0] != "read" {
		t.Fatalf("the new secret's token has scopes %v", got)
	}

	during(func() {
		if _, err := apps.Disable(admin, w.app.ID); err != nil {
			t.Error(err)
		}
	})
	rotated, err = apps.RotateSecret(admin, identity.RotateSecretRequest{ID: w.app.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got := orgMust[*model.App](t)(w.appRepo.ByID(ctx, w.tenant.ID, w.app.ID)).Status; got != model.AppDisabled {
		t.Fatalf("the app disabled during a rotation is %s", got)
	}
	_, err = w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: rotated.Secret})
	wantOrgErr(t, err, "APP_DISABLED", "")
}

// A rotation with a grace reads the app, then hashes its new secret;
// another rotation without a grace, made meanwhile, ended the secret read
// at once. Kept as the old secret, it would sign in again for the grace:
// the slower rotation writes nothing and is CONFLICT, and the other's
// secret stays the app's.
func TestRotationDuringARotationKeepsTheSecretItEnded(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	apps := w.apps()
	admin := w.user(w.admin)
	var first *identity.AppSecret
	meanwhile := func() {
		var err error
		if first, err = apps.RotateSecret(admin, identity.RotateSecretRequest{ID: w.app.ID}); err != nil {
			t.Error(err)
		}
	}
	w.hasher.beforeHash.Store(&meanwhile)
	_, err := apps.RotateSecret(admin, identity.RotateSecretRequest{ID: w.app.ID, Grace: time.Hour})
	wantOrgErr(t, err, "CONFLICT", "")
	if _, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: w.appSecret}); err == nil {
		t.Fatal("the secret a rotation without grace ended signs in again")
	}
	if _, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: first.Secret}); err != nil {
		t.Fatalf("the secret of the rotation made meanwhile: %v", err)
	}
}

// pausedApps is the apps table with a pause after the next read of an app
// by id: what another admin stores between a change's read and its write.
type pausedApps struct {
	identity.AppRepo
	afterRead atomic.Pointer[func()]
}

func (p *pausedApps) ByID(ctx context.Context, tenantID, id int64) (*model.App, error) {
	a, err := p.AppRepo.ByID(ctx, tenantID, id)
	if f := p.afterRead.Swap(nil); f != nil {
		(*f)()
	}
	return a, err
}

// A rename, an enable or a disable writes what it changes: a disable, a cut
// of the scopes or a rename another admin stored after its read stays.
func TestAppChangesKeepAConcurrentChange(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	repo := &pausedApps{AppRepo: w.appRepo}
	apps := identity.NewApps(identity.AppsDeps{Apps: repo, Tx: w.tx, Hasher: w.hasher, Revocations: w.revocations, Now: w.clock.Now})
	other := w.apps()
	admin := w.user(w.admin)
	during := func(f func()) { repo.afterRead.Store(&f) }
	stored := func() *model.App { return orgMust[*model.App](t)(w.appRepo.ByID(ctx, w.tenant.ID, w.app.ID)) }

	// Renamed while another admin disables it: it stays disabled.
	during(func() {
		if _, err := other.Disable(admin, w.app.ID); err != nil {
			t.Error(err)
		}
	})
	name := "Renamed"
	if _, err := apps.Update(admin, identity.UpdateAppRequest{ID: w.app.ID, Name: &name}); err != nil {
		t.Fatal(err)
	}
	if a := stored(); a.Status != model.AppDisabled || a.Name != name {
		t.Fatalf("renamed during a disable: status %s, name %q", a.Status, a.Name)
	}
	_, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: w.appSecret})
	wantOrgErr(t, err, "APP_DISABLED", "")

	// Enabled while another admin cuts its scopes: the cut stays, and so
	// do the new tokens' scopes.
	during(func() {
		if _, err := other.Update(admin, identity.UpdateAppRequest{ID: w.app.ID, Scopes: &[]string{"read"}}); err != nil {
			t.Error(err)
		}
	})
	if _, err := apps.Enable(admin, w.app.ID); err != nil {
		t.Fatal(err)
	}
	if a := stored(); a.Scopes != "read" || a.Status != model.AppActive {
		t.Fatalf("enabled during a cut of its scopes: scopes %q, status %s", a.Scopes, a.Status)
	}
	c, err := w.tokens.Verify(w.appToken(t, w.app.AppKey, w.appSecret))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Scope().AppScopes; len(got) != 1 || got[0] != "read" {
		t.Fatalf("a token after the cut has scopes %v", got)
	}

	// Disabled while another admin renames it: both stay.
	during(func() {
		n := "Renamed again"
		if _, err := other.Update(admin, identity.UpdateAppRequest{ID: w.app.ID, Name: &n}); err != nil {
			t.Error(err)
		}
	})
	if _, err := apps.Disable(admin, w.app.ID); err != nil {
		t.Fatal(err)
	}
	if a := stored(); a.Status != model.AppDisabled || a.Name != "Renamed again" {
		t.Fatalf("disabled during a rename: status %s, name %q", a.Status, a.Name)
	}
}

// An app token is signed from the app as it is once its secret matched:
// a disable, a cut of its scopes, a rotation or a delete stored while the
// secret was being compared leaves no valid token of what the app was.
func TestAppTokenDuringAChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, w *orgWorld, apps *identity.Apps, admin context.Context)
	}{
		{"disable", func(t *testing.T, w *orgWorld, apps *identity.Apps, admin context.Context) {
			if _, err := apps.Disable(admin, w.app.ID); err != nil {
				t.Error(err)
			}
		}},
		{"rescope", func(t *testing.T, w *orgWorld, apps *identity.Apps, admin context.Context) {
			if _, err := apps.Update(admin, identity.UpdateAppRequest{ID: w.app.ID, Scopes: &[]string{"read"}}); err != nil {
				t.Error(err)
			}
		}},
		{"rotate", func(t *testing.T, w *orgWorld, apps *identity.Apps, admin context.Context) {
			if _, err := apps.RotateSecret(admin, identity.RotateSecretRequest{ID: w.app.ID}); err != nil {
				t.Error(err)
			}
		}},
		{"delete", func(t *testing.T, w *orgWorld, apps *identity.Apps, admin context.Context) {
			if err := apps.Delete(admin, w.app.ID); err != nil {
				t.Error(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOrgWorld(t)
			apps := w.apps()
			admin := w.user(w.admin)
			f := func() { tt.change(t, w, apps, admin) }
			w.hasher.beforeMatch.Store(&f)
			tok, err := w.auth.CreateAppToken(context.Background(), identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: w.appSecret})
			if err != nil {
				return
			}
			c, err := w.tokens.Verify(tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.revocations.Check(c); err == nil && (tt.name != "rescope" || strings.Join(c.Scope().AppScopes, " ") != "read") {
				t.Fatalf("an app token signed during a %s is valid with scopes %v", tt.name, c.Scope().AppScopes)
			}
		})
	}
}

// failingVersions fails the next raise of a token version.
type failingVersions struct {
	identity.TokenVersionRepo
	fail atomic.Bool
}

func (r *failingVersions) Bump(ctx context.Context, kind string, tenantID, subjectID int64, reason string, at time.Time) (*model.TokenVersion, error) {
	if r.fail.Swap(false) {
		return nil, errs.Conflict("a concurrent change got in the way; try again")
	}
	return r.TokenVersionRepo.Bump(ctx, kind, tenantID, subjectID, reason, at)
}

// New scopes are not kept without the revocation of the app's tokens: the
// retry after a failed one finds the change still to make.
func TestNewScopesAreKeptOnlyWithTheirRevocation(t *testing.T) {
	w := newOrgWorld(t)
	versions := &failingVersions{TokenVersionRepo: w.versions}
	revocations := identity.NewRevocations(versions, identity.RevocationOptions{Keep: 2 * time.Hour, Now: w.clock.Now})
	apps := identity.NewApps(identity.AppsDeps{Apps: w.appRepo, Tx: w.tx, Hasher: w.hasher, Revocations: revocations, Now: w.clock.Now})
	admin := w.as(model.Scope{TenantID: w.tenant.ID, UserID: w.admin.ID, Role: model.RoleAdmin})
	scopes := []string{"read"}
	versions.fail.Store(true)
	if _, err := apps.Update(admin, identity.UpdateAppRequest{ID: w.app.ID, Scopes: &scopes}); !errs.IsConflict(err) {
		t.Fatalf("update with a failing revocation: %v", err)
	}
	if _, err := apps.Update(admin, identity.UpdateAppRequest{ID: w.app.ID, Scopes: &scopes}); err != nil {
		t.Fatal(err)
	}
	v, err := w.versions.Current(context.Background(), model.TokenVersionApp, w.app.ID)
	if err != nil || v.Version == 0 {
		t.Fatalf("app token version %+v, %v after new scopes: the tokens were not ended", v, err)
	}
}

// Seeding stores an app's new scopes, or its new secret, only together with
// the end of its tokens: a rerun after a failed revocation finds the change
// still to make, and makes it.
func TestSeedingKeepsAnAppChangeOnlyWithItsRevocation(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	versions := &failingVersions{TokenVersionRepo: w.versions}
	revocations := identity.NewRevocations(versions, identity.RevocationOptions{Keep: 2 * time.Hour, Now: w.clock.Now})
	provision := identity.NewProvision(identity.ProvisionDeps{Apps: w.appRepo, Hasher: w.hasher, Now: w.clock.Now, Revocations: revocations, Tx: w.tx})
	stored := func() *model.App { return orgMust[*model.App](t)(w.appRepo.ByID(ctx, w.tenant.ID, w.app.ID)) }
	version := func() int64 {
		v, err := w.versions.Current(ctx, model.TokenVersionApp, w.app.ID)
		if err != nil {
			t.Fatal(err)
		}
		return v.Version
	}
	oldScopes, oldHash, v0 := stored().Scopes, stored().SecretHash, version()

	versions.fail.Store(true)
	if _, err := provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "CRM", Scopes: []string{"read"}}); !errs.IsConflict(err) {
		t.Fatalf("new scopes with a failing revocation: %v", err)
	}
	if got := stored().Scopes; got != oldScopes {
		t.Fatalf("scopes %q were stored without the revocation of the tokens of %q", got, oldScopes)
	}
	if _, err := provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "CRM", Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	if got, v := stored().Scopes, version(); got != "read" || v <= v0 {
		t.Fatalf("after the rerun: scopes %q, token version %d (was %d)", got, v, v0)
	}

	v1 := version()
	versions.fail.Store(true)
	if _, err := provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "CRM", RotateSecret: true}); !errs.IsConflict(err) {
		t.Fatalf("a new secret with a failing revocation: %v", err)
	}
	if stored().SecretHash != oldHash {
		t.Fatal("a new secret was stored without the revocation of the old one's tokens")
	}
	creds, err := provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "CRM", RotateSecret: true})
	if err != nil || creds.Secret == "" || stored().SecretHash == oldHash || version() <= v1 {
		t.Fatalf("after the rerun: %+v, %v, token version %d (was %d)", creds, err, version(), v1)
	}
}
