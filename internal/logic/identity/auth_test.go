package identity_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

func TestLogin(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	tests := []struct {
		name, account, password string
		want                    *model.User // nil: refused
		reason, field           string
	}{
		{name: "email", account: "rep1@acme.test", password: w.password, want: w.reps[0]},
		{name: "email in another case, with spaces", account: "  REP1@Acme.Test ", password: w.password, want: w.reps[0]},
		{name: "phone", account: "13900000002", password: w.password, want: w.reps[0]},
		{name: "phone with separators", account: "+86 139-0000-0001", password: w.password, want: w.manager},
		{name: "wrong password", account: "rep1@acme.test", password: "wrong password", reason: "UNAUTHENTICATED"},
		{name: "unknown email", account: "nobody@acme.test", password: w.password, reason: "UNAUTHENTICATED"},
		{name: "unknown phone", account: "13999999999", password: w.password, reason: "UNAUTHENTICATED"},
		{name: "neither email nor phone", account: "rep1", password: w.password, reason: "UNAUTHENTICATED"},
		{name: "no account", account: " ", password: w.password, reason: "INVALID_ARGUMENT", field: "account"},
		{name: "no password", account: "rep1@acme.test", password: "", reason: "INVALID_ARGUMENT", field: "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := w.hasher.compares.Load()
			pair, err := w.auth.Login(ctx, identity.LoginRequest{Account: tt.account, Password: tt.password})
			if tt.want == nil {
				wantOrgErr(t, err, tt.reason, tt.field)
				if tt.reason == "UNAUTHENTICATED" && w.hasher.compares.Load() != before+1 {
					// Unknown accounts cost one bcrypt comparison too.
					t.Fatalf("compared %d times, want once", w.hasher.compares.Load()-before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			claims, err := w.tokens.Verify(pair.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			s := claims.Scope()
			if s.UserID != tt.want.ID || s.TenantID != w.tenant.ID || s.Role != tt.want.Role || claims.Tier != "premium" {
				t.Fatalf("claims %+v (tier %s), want user %d", s, claims.Tier, tt.want.ID)
			}
			if pair.ExpiresIn != 900 || len(pair.RefreshToken) != 43 {
				t.Fatalf("expires_in %d, refresh token %q", pair.ExpiresIn, pair.RefreshToken)
			}
		})
	}
}

func TestLoginCarriesTheDepartmentPath(t *testing.T) {
	w := newOrgWorld(t)
	pair, err := w.auth.Login(context.Background(), identity.LoginRequest{Account: "rep2@acme.test", Password: w.password})
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := w.tokens.Verify(pair.AccessToken)
	if claims.DepartmentPath != w.east.Path || w.east.Path != fmt.Sprintf("/%d/%d/", w.sales.ID, w.east.ID) {
		t.Fatalf("department path %q, east %q", claims.DepartmentPath, w.east.Path)
	}
}

func TestLoginRefusesDisabledAndPasswordlessUsers(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	disabled := model.UserDisabled
	if _, err := w.org.UpdateUser(w.user(w.admin), identity.UpdateUserRequest{ID: w.reps[2].ID, Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	_, err := w.auth.Login(ctx, identity.LoginRequest{Account: "rep3@acme.test", Password: w.password})
	wantOrgErr(t, err, "USER_DISABLED", "")
	_, err = w.auth.Login(ctx, identity.LoginRequest{Account: "rep3@acme.test", Password: "wrong password"})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")

	// A user mirrored by a partner has no password: no password opens it.
	u, _, err := w.org.UpsertUser(w.appCtx(w.app), identity.UpsertUserRequest{OriginUserID: "crm-9", Name: "Mirrored", Email: "mirrored@acme.test"})
	if err != nil || u.PasswordHash != "" {
		t.Fatalf("upsert: %v, hash %q", err, u.PasswordHash)
	}
	for _, pw := range []string{"", "x", w.password} {
		_, err = w.auth.Login(ctx, identity.LoginRequest{Account: "mirrored@acme.test", Password: pw})
		if err == nil {
			t.Fatalf("password %q opened a passwordless account", pw)
		}
	}
}

func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	first, err := w.auth.Login(ctx, identity.LoginRequest{Account: "rep1@acme.test", Password: w.password})
	if err != nil {
		t.Fatal(err)
	}
	other, err := w.auth.Login(ctx, identity.LoginRequest{Account: "rep1@acme.test", Password: w.password})
	if err != nil {
		t.Fatal(err)
	}
	second, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: first.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken {
		t.Fatal("the refresh token was not rotated")
	}
	if c, err := w.tokens.Verify(second.AccessToken); err != nil || c.Scope().UserID != w.reps[0].ID {
		t.Fatalf("new access token: %v", err)
	}
	// The spent token again: refused, and the family is revoked with it.
	_, err = w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: first.RefreshToken})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
	_, err = w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: second.RefreshToken})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
	// The access token refreshed from it, perhaps a thief's, is refused,
	// and so are the user's others, saying why.
	for _, tok := range []string{second.AccessToken, other.AccessToken} {
		c, err := w.tokens.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.revocations.Check(c); errs.ReasonOf(err) != errs.ReasonTokenRevoked || !strings.Contains(err.Error(), "used twice") {
			t.Fatalf("an access token of the user after a refresh token's reuse: %v", err)
		}
	}
	// Another login (another family) refreshes, and its new access token
	// is good.
	again, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: other.RefreshToken})
	if err != nil {
		t.Fatalf("other family: %v", err)
	}
	if c, err := w.tokens.Verify(again.AccessToken); err != nil || w.revocations.Check(c) != nil {
		t.Fatalf("other family's new access token: %v / %v", err, w.revocations.Check(c))
	}
}

func TestRefreshRefusals(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	login := func(account string) string {
		t.Helper()
		p, err := w.auth.Login(ctx, identity.LoginRequest{Account: account, Password: w.password})
		if err != nil {
			t.Fatal(err)
		}
		return p.RefreshToken
	}
	_, err := w.auth.Refresh(ctx, identity.RefreshRequest{})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "refresh_token")
	_, err = w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: "not-a-token-we-issued"})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")

	expiring := login("rep1@acme.test")
	w.clock.Add(24*time.Hour + time.Millisecond)
	_, err = w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: expiring})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")

	// Disabling a user revokes their tokens; a password reset too.
	rt := login("rep2@acme.test")
	disabled := model.UserDisabled
	if _, err := w.org.UpdateUser(w.user(w.admin), identity.UpdateUserRequest{ID: w.reps[1].ID, Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	_, err = w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: rt})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
	rt = login("manager@acme.test")
	pw := "a brand new password"
	if _, err := w.org.UpdateUser(w.user(w.admin), identity.UpdateUserRequest{ID: w.manager.ID, Password: &pw}); err != nil {
		t.Fatal(err)
	}
	_, err = w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: rt})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
	if _, err := w.auth.Login(ctx, identity.LoginRequest{Account: "manager@acme.test", Password: pw}); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}

func TestConcurrentRefreshesHaveOneWinner(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	p, err := w.auth.Login(ctx, identity.LoginRequest{Account: "rep1@acme.test", Password: w.password})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	refused := make(chan error, n)
	won := make(chan *identity.TokenPair, n)
	for range n {
		wg.Go(func() {
			pair, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: p.RefreshToken})
			if err != nil {
				refused <- err
				return
			}
			won <- pair
		})
	}
	wg.Wait()
	close(refused)
	close(won)
	for err := range refused {
		wantOrgErr(t, err, "UNAUTHENTICATED", "")
	}
	if len(won) != 1 {
		t.Fatalf("%d refreshes won, want exactly 1", len(won))
	}
	// The losers presented a spent token: the family is revoked, the
	// winner's new token with it.
	_, err = w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: (<-won).RefreshToken})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
}

// A refresh token presented again while the refresh that spent it has
// not signed its pair yet: the reuse revokes the user's access tokens,
// the pair being signed included, whoever holds it.
func TestAReuseDuringTheWinningRefreshRevokesItsPair(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	p, err := w.auth.Login(ctx, identity.LoginRequest{Account: "rep1@acme.test", Password: w.password})
	if err != nil {
		t.Fatal(err)
	}
	f := func() {
		_, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: p.RefreshToken})
		wantOrgErr(t, err, "UNAUTHENTICATED", "")
	}
	w.refresh.afterRotate.Store(&f)
	won, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: p.RefreshToken})
	if err != nil {
		return
	}
	wantRevoked(t, w.check(t, w.revocations, won.AccessToken), "used twice")
	wantRevoked(t, w.check(t, w.otherInstance(t), won.AccessToken), "used twice")
	_, err = w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: won.RefreshToken})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
}

func TestCreateAppToken(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	tok, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: w.appSecret})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := w.tokens.Verify(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	s := claims.Scope()
	if tok.ExpiresIn != 7200 || s.Role != model.RoleApp || s.AppID != w.app.ID || s.TenantID != w.tenant.ID ||
		!s.Allows("ingest") || !s.Allows("read") || s.Allows("search") {
		t.Fatalf("token %+v, scope %+v", tok, s)
	}
	tests := []struct {
		name, key, secret string
		reason, field     string
	}{
		{"wrong secret", w.app.AppKey, w.readOnlyPass, "UNAUTHENTICATED", ""},
		{"unknown key", "ak_unknown", w.appSecret, "UNAUTHENTICATED", ""},
		{"no key", "", w.appSecret, "INVALID_ARGUMENT", "app_key"},
		{"no secret", w.app.AppKey, "", "INVALID_ARGUMENT", "app_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := w.hasher.compares.Load()
			_, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: tt.key, AppSecret: tt.secret})
			wantOrgErr(t, err, tt.reason, tt.field)
			if tt.reason == "UNAUTHENTICATED" && w.hasher.compares.Load() != before+1 {
				t.Fatal("an unknown key must cost a comparison too")
			}
		})
	}
}

func TestEnsureAppKeepsOrRotatesTheSecret(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	again, err := w.provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "CRM", Scopes: []string{"ingest"}})
	if err != nil || again.Created || again.Secret != "" || again.App.ID != w.app.ID {
		t.Fatalf("second EnsureApp: %+v, %v", again, err)
	}
	rotated, err := w.provision.EnsureApp(ctx, identity.NewApp{TenantID: w.tenant.ID, Name: "CRM", RotateSecret: true})
	if err != nil || rotated.Secret == "" || rotated.App.AppKey != w.app.AppKey {
		t.Fatalf("rotation: %+v, %v", rotated, err)
	}
	if _, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: w.appSecret}); err == nil {
		t.Fatal("the old secret still works")
	}
	if _, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: rotated.Secret}); err != nil {
		t.Fatalf("the new secret: %v", err)
	}
}
