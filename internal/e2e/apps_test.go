//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
)

// appClient signs apps in and calls OrgService and ConversationService as
// them over gRPC.
type appClient struct {
	t    *testing.T
	auth openv1.AuthServiceClient
	org  openv1.OrgServiceClient
	conv openv1.ConversationServiceClient
}

func newAppClient(t *testing.T, s *Service) *appClient {
	conn := s.GRPC()
	return &appClient{t: t, auth: openv1.NewAuthServiceClient(conn), org: openv1.NewOrgServiceClient(conn), conv: openv1.NewConversationServiceClient(conn)}
}

// token signs in with key and secret; the answer's code and reason.
func (c *appClient) token(key, secret string) (string, codes.Code, string) {
	res, err := c.auth.CreateAppToken(c.t.Context(), &openv1.CreateAppTokenRequest{AppKey: key, AppSecret: secret})
	if err != nil {
		code, reason := authGRPCReason(err)
		return "", code, reason
	}
	return res.AccessToken, codes.OK, ""
}

// mustToken signs in and fails the test when it cannot.
// readerApp creates an app with the read scope as admin, and returns it
// with a token of it.
func (c *appClient) readerApp(s *Service, admin, name string) (controller.AppSecretJSON, string) {
	c.t.Helper()
	var a controller.AppSecretJSON
	authCall(c.t, s, http.MethodPost, "/api/v1/apps", admin, map[string]any{"name": name, "scopes": []string{"read"}}).
		want(c.t, http.StatusCreated, "").decode(c.t, &a)
	return a, c.mustToken(a.AppKey, a.AppSecret)
}

func (c *appClient) mustToken(key, secret string) string {
	c.t.Helper()
	tok, code, reason := c.token(key, secret)
	if code != codes.OK {
		c.t.Fatalf("CreateAppToken: %s %s", code, reason)
	}
	return tok
}

// wantToken expects CreateAppToken to answer code and reason.
func (c *appClient) wantToken(key, secret string, code codes.Code, reason string) {
	c.t.Helper()
	if _, gotCode, gotReason := c.token(key, secret); gotCode != code || gotReason != reason {
		c.t.Fatalf("CreateAppToken: %s %s, want %s %s", gotCode, gotReason, code, reason)
	}
}

// upsert upserts a user as the app of token; the answer's code and reason.
func (c *appClient) upsert(token string, req *openv1.UpsertUserRequest) (*openv1.UpsertUserResponse, codes.Code, string) {
	res, err := c.org.UpsertUser(authBearer(c.t.Context(), token), req)
	code, reason := authGRPCReason(err)
	return res, code, reason
}

// wantUpsert expects UpsertUser to answer code and reason, with words in
// the message when given.
func (c *appClient) wantUpsert(token string, req *openv1.UpsertUserRequest, code codes.Code, reason, words string) {
	c.t.Helper()
	_, err := c.org.UpsertUser(authBearer(c.t.Context(), token), req)
	gotCode, gotReason := authGRPCReason(err)
	if gotCode != code || gotReason != reason || (err != nil && !strings.Contains(err.Error(), words)) {
		c.t.Fatalf("UpsertUser %s: %v, want %s %s saying %q", req.OriginUserId, err, code, reason, words)
	}
}

// lists tells whether the app token may list users (org) and conversations
// (read): codes.OK or the refusal.
func (c *appClient) lists(token string) (org, read codes.Code) {
	ctx := authBearer(c.t.Context(), token)
	_, err := c.org.ListUsers(ctx, &openv1.ListUsersRequest{})
	org, _ = authGRPCReason(err)
	_, err = c.conv.ListConversations(ctx, &openv1.ListConversationsRequest{})
	read, _ = authGRPCReason(err)
	return org, read
}

// wantRevokedGRPC expects the app token to be refused as revoked.
func (c *appClient) wantRevokedGRPC(token, what string) {
	c.t.Helper()
	_, err := c.org.ListUsers(authBearer(c.t.Context(), token), &openv1.ListUsersRequest{})
	if code, reason := authGRPCReason(err); code != codes.Unauthenticated || reason != "TOKEN_REVOKED" || !strings.Contains(err.Error(), what) {
		c.t.Fatalf("a revoked app token (%s): %v", what, err)
	}
}

// Apps managed by a tenant admin over HTTP and used over gRPC, on the real
// binary and MariaDB: who may manage them, the 400s, 404s and 409s, scopes
// enforced, secrets rotated with and without a grace, disable, enable,
// delete, and what an org app may not do to admins.
func TestAppsManagedByAdminsOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	admin := authLogin(t, s, *f.Admin.Email, f.Password).AccessToken
	c := newAppClient(t, s)

	// Only the tenant's admins manage apps.
	body := map[string]any{"name": "Sync", "scopes": []string{"org"}}
	authCall(t, s, http.MethodPost, "/api/v1/apps", f.Token(t, f.Manager), body).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	authCall(t, s, http.MethodPost, "/api/v1/apps", f.AppToken(t), body).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	authCall(t, s, http.MethodGet, "/api/v1/apps", f.AppToken(t), nil).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	authCall(t, s, http.MethodPost, "/api/v1/apps", "", body).want(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": " ", "scopes": []string{"org"}}, "name"},
		{map[string]any{"scopes": []string{"org"}}, "name"},
		{map[string]any{"name": "Sync"}, "scopes"},
		{map[string]any{"name": "Sync", "scopes": []string{"org", "admin"}}, "scopes"},
		{map[string]any{"name": "Sync", "scopes": "org"}, "scopes"},
	} {
		r := authCall(t, s, http.MethodPost, "/api/v1/apps", admin, bad.body).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
		if r.Metadata["field"] != bad.field {
			t.Fatalf("%v: field %q (%s), want %q", bad.body, r.Metadata["field"], r.Msg, bad.field)
		}
	}
	var sync controller.AppSecretJSON
	authCall(t, s, http.MethodPost, "/api/v1/apps", admin, body).want(t, http.StatusCreated, "").decode(t, &sync)
	authCall(t, s, http.MethodPost, "/api/v1/apps", admin, body).want(t, http.StatusConflict, "ALREADY_EXISTS")
	// The secret is shown once and stored hashed.
	var stored model.App
	if err := f.DB.First(&stored, sync.ID).Error; err != nil {
		t.Fatal(err)
	}
	if sync.AppSecret == "" || strings.Contains(stored.SecretHash, sync.AppSecret) {
		t.Fatalf("the secret %q is stored as %q", sync.AppSecret, stored.SecretHash)
	}
	path := fmt.Sprintf("/api/v1/apps/%d", sync.ID)
	r := authCall(t, s, http.MethodGet, path, admin, nil).want(t, http.StatusOK, "")
	if strings.Contains(string(r.Data), sync.AppSecret) || strings.Contains(string(r.Data), "secret_hash") {
		t.Fatalf("GET shows the secret: %s", r.Data)
	}
	// Another tenant's admin finds nothing and changes nothing.
	otherAdmin := other.Token(t, other.Admin)
	for _, call := range []struct{ method, path string }{
		{http.MethodGet, path}, {http.MethodPut, path}, {http.MethodPost, path + "/disable"},
		{http.MethodPost, path + "/rotate-secret"}, {http.MethodDelete, path},
	} {
		authCall(t, s, call.method, call.path, otherAdmin, nil).want(t, http.StatusNotFound, "APP_NOT_FOUND")
	}
	var list controller.AppListJSON
	authCall(t, s, http.MethodGet, "/api/v1/apps", otherAdmin, nil).want(t, http.StatusOK, "").decode(t, &list)
	for _, a := range list.Apps {
		if a.ID == sync.ID {
			t.Fatal("the other tenant lists the app")
		}
	}

	// The org app mirrors users, and nothing else.
	tok := c.mustToken(sync.AppKey, sync.AppSecret)
	if org, read := c.lists(tok); org != codes.OK || read != codes.PermissionDenied {
		t.Fatalf("org app: ListUsers %s, ListConversations %s", org, read)
	}
	// No app makes an admin.
	c.wantUpsert(tok, &openv1.UpsertUserRequest{OriginUserId: "boss", Name: "Boss", Role: openv1.Role_ROLE_ADMIN},
		codes.PermissionDenied, "PERMISSION_DENIED", "cannot make a user an admin")
	bossReq := &openv1.UpsertUserRequest{OriginUserId: "boss", Name: "Boss", Email: "boss." + sync.AppKey + "@test.mgv", Role: openv1.Role_ROLE_REP}
	boss, code, reason := c.upsert(tok, bossReq)
	if code != codes.OK {
		t.Fatalf("upsert a rep: %s %s", code, reason)
	}
	bossReq.Role = openv1.Role_ROLE_ADMIN
	c.wantUpsert(tok, bossReq, codes.PermissionDenied, "PERMISSION_DENIED", "cannot make a user an admin")
	// The admin makes Boss an admin; the app cannot take Boss's account.
	bossPath := fmt.Sprintf("/api/v1/users/%d", boss.User.Id)
	authCall(t, s, http.MethodPut, bossPath, admin, map[string]any{"role": "admin"}).want(t, http.StatusOK, "")
	// bossWith is bossReq changed by change.
	bossWith := func(change func(r *openv1.UpsertUserRequest)) *openv1.UpsertUserRequest {
		r := proto.Clone(bossReq).(*openv1.UpsertUserRequest)
		change(r)
		return r
	}
	c.wantUpsert(tok, bossWith(func(r *openv1.UpsertUserRequest) { r.Email = "attacker." + sync.AppKey + "@evil.test" }),
		codes.PermissionDenied, "PERMISSION_DENIED", "email an admin signs in with")
	c.wantUpsert(tok, bossWith(func(r *openv1.UpsertUserRequest) { r.Phone = "+8613911112222" }),
		codes.PermissionDenied, "PERMISSION_DENIED", "phone an admin signs in with")
	// With another active admin, the app may disable Boss, not enable Boss again.
	off := bossWith(func(r *openv1.UpsertUserRequest) { r.Status = openv1.UserStatus_USER_STATUS_DISABLED })
	c.wantUpsert(tok, off, codes.OK, "", "")
	c.wantUpsert(tok, bossReq, codes.PermissionDenied, "PERMISSION_DENIED", "cannot enable a disabled admin")
	authCall(t, s, http.MethodPut, bossPath, admin, map[string]any{"status": "active"}).want(t, http.StatusOK, "")

	// The last active admin: while the first admin's disabling has not
	// reached this instance (written here straight into the database, as
	// another instance would have), Boss is the last, and neither the app nor
	// the first admin's still-valid token disables or demotes Boss.
	if err := f.DB.Model(&model.User{}).Where("id = ?", f.Admin.ID).Update("status", model.UserDisabled).Error; err != nil {
		t.Fatal(err)
	}
	c.wantUpsert(tok, off, codes.FailedPrecondition, "LAST_ADMIN", "last active admin")
	demote := bossWith(func(r *openv1.UpsertUserRequest) { r.Role = openv1.Role_ROLE_REP })
	c.wantUpsert(tok, demote, codes.FailedPrecondition, "LAST_ADMIN", "last active admin")
	// The gRPC details name the field, as the HTTP envelope does below.
	for field, req := range map[string]*openv1.UpsertUserRequest{"status": off, "role": demote} {
		_, err := c.org.UpsertUser(authBearer(t.Context(), tok), req)
		if code, reason, md := rpcReason(err); code != codes.FailedPrecondition || reason != "LAST_ADMIN" || md["field"] != field {
			t.Fatalf("last admin by %s over gRPC: %v, details %s %v", field, err, reason, md)
		}
	}
	for field, value := range map[string]string{"status": "disabled", "role": "manager"} {
		r := authCall(t, s, http.MethodPut, bossPath, admin, map[string]any{field: value}).want(t, http.StatusConflict, "LAST_ADMIN")
		if r.Metadata["field"] != field || !strings.Contains(r.Msg, "last active admin") {
			t.Fatalf("last admin by %s: %+v", field, r)
		}
	}
	if err := f.DB.Model(&model.User{}).Where("id = ?", f.Admin.ID).Update("status", model.UserActive).Error; err != nil {
		t.Fatal(err)
	}

	// New scopes end the app's tokens at once on this instance.
	authCall(t, s, http.MethodPut, path, admin, map[string]any{"scopes": []string{"read"}}).want(t, http.StatusOK, "")
	c.wantRevokedGRPC(tok, "scopes changed")
	tok = c.mustToken(sync.AppKey, sync.AppSecret)
	if org, read := c.lists(tok); org != codes.PermissionDenied || read != codes.OK {
		t.Fatalf("read app: ListUsers %s, ListConversations %s", org, read)
	}
	authCall(t, s, http.MethodPut, path, admin, map[string]any{"scopes": []string{}}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodPut, path, admin, map[string]any{"name": f.App.Name}).want(t, http.StatusConflict, "ALREADY_EXISTS")

	// Rotation with a grace: both secrets sign in, every token works.
	var rotated controller.AppSecretJSON
	authCall(t, s, http.MethodPost, path+"/rotate-secret", admin, map[string]any{"grace_seconds": 604801}).
		want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodPost, path+"/rotate-secret", admin, map[string]any{"grace_seconds": -1}).
		want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodPost, path+"/rotate-secret", admin, map[string]any{"grace_seconds": 3600}).
		want(t, http.StatusOK, "").decode(t, &rotated)
	if rotated.OldSecretUntil == nil || rotated.AppSecret == sync.AppSecret {
		t.Fatalf("rotated: %+v", rotated.AppJSON)
	}
	during := c.mustToken(sync.AppKey, sync.AppSecret)
	fresh := c.mustToken(sync.AppKey, rotated.AppSecret)
	for _, tk := range []string{tok, during, fresh} {
		if _, read := c.lists(tk); read != codes.OK {
			t.Fatalf("a token during the grace: %s", read)
		}
	}
	// Rotation without a grace: the older secrets and all tokens end at once.
	var again controller.AppSecretJSON
	authCall(t, s, http.MethodPost, path+"/rotate-secret", admin, nil).want(t, http.StatusOK, "").decode(t, &again)
	for _, tk := range []string{tok, during, fresh} {
		c.wantRevokedGRPC(tk, "secret changed")
	}
	c.wantToken(sync.AppKey, sync.AppSecret, codes.Unauthenticated, "UNAUTHENTICATED")
	c.wantToken(sync.AppKey, rotated.AppSecret, codes.Unauthenticated, "UNAUTHENTICATED")
	tok = c.mustToken(sync.AppKey, again.AppSecret)

	// Disabled: tokens end; a token is refused as APP_DISABLED to the
	// secret's holder only. Enabled: new tokens, the old stay revoked.
	authCall(t, s, http.MethodPost, path+"/disable", admin, nil).want(t, http.StatusOK, "")
	c.wantRevokedGRPC(tok, "disabled")
	c.wantToken(sync.AppKey, again.AppSecret, codes.Unauthenticated, "APP_DISABLED")
	c.wantToken(sync.AppKey, "a guess", codes.Unauthenticated, "UNAUTHENTICATED")
	authCall(t, s, http.MethodGet, "/api/v1/conversations", tok, nil).want(t, http.StatusUnauthorized, "TOKEN_REVOKED")
	authCall(t, s, http.MethodPost, path+"/enable", admin, nil).want(t, http.StatusOK, "")
	c.wantRevokedGRPC(tok, "disabled")
	tok = c.mustToken(sync.AppKey, again.AppSecret)
	authCall(t, s, http.MethodGet, "/api/v1/conversations", tok, nil).want(t, http.StatusOK, "")

	// Deleted: the tokens end, the key opens nothing, the name is free.
	authCall(t, s, http.MethodDelete, path, admin, nil).want(t, http.StatusOK, "")
	c.wantRevokedGRPC(tok, "deleted")
	c.wantToken(sync.AppKey, again.AppSecret, codes.Unauthenticated, "UNAUTHENTICATED")
	authCall(t, s, http.MethodGet, path, admin, nil).want(t, http.StatusNotFound, "APP_NOT_FOUND")
	authCall(t, s, http.MethodPost, "/api/v1/apps", admin, body).want(t, http.StatusCreated, "")
	// The fixture's app was never touched.
	if _, read := c.lists(c.mustToken(f.App.AppKey, f.AppSecret)); read != codes.OK {
		t.Fatalf("the other app: %s", read)
	}
}

// Two admins, the tenant's only active ones, demote each other at the same
// moment, round after round: the last-admin check and the change are one
// transaction that locks the admins' rows, so one of them always stays
// admin (the other answer is LAST_ADMIN, or TOKEN_REVOKED when the
// winner's change came first).
func TestAdminsDemotingEachOtherKeepOneOnMariaDB(t *testing.T) {
	adminsDemotingEachOther(t, mysqlEnv(t))
}

// The same on the embedded default: its SQLite store lets one writer in at
// a time, and a change that read the admins before the other committed
// waits for it rather than fail as the store busy.
func TestAdminsDemotingEachOtherKeepOneOnTheEmbeddedDefault(t *testing.T) {
	adminsDemotingEachOther(t, nil)
}

func adminsDemotingEachOther(t *testing.T, env map[string]string) {
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	first := authLogin(t, s, *f.Admin.Email, f.Password).AccessToken
	type admin struct {
		id    int64
		email string
	}
	mk := func(name string) admin {
		email := strings.Replace(*f.Admin.Email, "admin.", name+".", 1)
		var u struct {
			ID int64 `json:"id"`
		}
		authCall(t, s, http.MethodPost, "/api/v1/users", first, map[string]any{"name": name, "email": email, "password": f.Password, "role": "admin"}).
			want(t, http.StatusCreated, "").decode(t, &u)
		return admin{u.ID, email}
	}
	x, y := mk("admin-x"), mk("admin-y")
	tokX := authLogin(t, s, x.email, f.Password).AccessToken
	authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", f.Admin.ID), tokX, map[string]any{"status": "disabled"}).want(t, http.StatusOK, "")
	tokY := authLogin(t, s, y.email, f.Password).AccessToken

	outcomes := map[string]int{}
	for round := range 10 {
		answers := make([]authResult, 2)
		start := make(chan struct{})
		done := make(chan struct{})
		for i, call := range []struct {
			token  string
			target int64
		}{{tokX, y.id}, {tokY, x.id}} {
			go func() {
				defer func() { done <- struct{}{} }()
				<-start
				answers[i] = authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", call.target), call.token, map[string]any{"role": "rep"})
			}()
		}
		close(start)
		<-done
		<-done
		var active int64
		if err := f.DB.Model(&model.User{}).Where("tenant_id = ? AND role = ? AND status = ?", f.Tenant.ID, model.RoleAdmin, model.UserActive).
			Count(&active).Error; err != nil {
			t.Fatal(err)
		}
		ok := 0
		for _, a := range answers {
			outcomes[fmt.Sprintf("%d %s", a.Status, a.Reason)]++
			if a.Status == http.StatusOK {
				ok++
			} else if a.Status != http.StatusConflict && a.Status != http.StatusUnauthorized {
				t.Fatalf("round %d: %d %s %s", round, a.Status, a.Reason, a.Msg)
			}
		}
		if active != 1 || ok != 1 {
			t.Fatalf("round %d: %d active admins after the answers %d %s and %d %s", round, active,
				answers[0].Status, answers[0].Reason, answers[1].Status, answers[1].Reason)
		}
		// The one still admin makes the other admin again.
		loser, winnerTok := y, tokX
		if answers[1].Status == http.StatusOK {
			loser, winnerTok = x, tokY
		}
		authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", loser.id), winnerTok, map[string]any{"role": "admin"}).want(t, http.StatusOK, "")
		tokX, tokY = authLogin(t, s, x.email, f.Password).AccessToken, authLogin(t, s, y.email, f.Password).AccessToken
	}
	t.Logf("answers over 10 rounds: %v", outcomes)
}

// An app's calls are limited at its tenant's tier, as its users' are: a
// tenant on a slow tier does not get the standard tier through an app
// (nor a premium tenant's apps less than premium). The app's view shows
// the tier.
func TestAnAppIsLimitedAtItsTenantsTier(t *testing.T) {
	s := NewService(t, nil)
	editFile(t, s.ConfigPath, "[ratelimit.tiers.standard]", "[ratelimit.tiers.slow]\nrps = 1\nburst = 1\n\n[ratelimit.tiers.standard]")
	f := NewFixture(t, s)
	if err := f.DB.Model(&f.Tenant).Update("rate_tier", "slow").Error; err != nil {
		t.Fatal(err)
	}
	f.Tenant.RateTier = "slow"
	s.Start()
	c := newAppClient(t, s)
	app, token := c.readerApp(s, f.Token(t, f.Admin), "Dialer")
	if app.RateTier != "slow" {
		t.Errorf("the app shows tier %q, want its tenant's", app.RateTier)
	}
	var limited atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			r, err := tryCall(s, http.MethodGet, "/api/v1/ping", token, nil)
			if err != nil {
				t.Error(err)
			}
			if r.Status == http.StatusTooManyRequests {
				limited.Add(1)
			}
		})
	}
	wg.Wait()
	// 1 request a second with a queue of one: about two of ten sent at
	// once pass; the standard tier (200 a second) would pass all.
	if limited := limited.Load(); limited < 6 {
		t.Fatalf("%d of 10 quick calls of the app limited, want most at its tenant's 1 a second", limited)
	}
}

// TestAppNamesAreUniqueByteForByteOnMariaDB: a tenant's app names compare
// byte for byte once trimmed, as on the embedded SQLite: "sync" and
// "Sýnc" are apps of their own next to "Sync", each of which signs in with
// its own key, while "Sync" again is refused naming the field. MariaDB's
// collation refused them as the name of another app.
func TestAppNamesAreUniqueByteForByteOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	c := newAppClient(t, s)
	keys := map[string]bool{}
	for _, name := range []string{"Sync", "sync", "Sýnc"} {
		var a controller.AppSecretJSON
		authCall(t, s, http.MethodPost, "/api/v1/apps", admin, map[string]any{"name": name, "scopes": []string{"org"}}).
			want(t, http.StatusCreated, "").decode(t, &a)
		if a.Name != name || keys[a.AppKey] {
			t.Fatalf("created %+v for %q", a.AppJSON, name)
		}
		keys[a.AppKey] = true
		c.mustToken(a.AppKey, a.AppSecret)
	}
	r := authCall(t, s, http.MethodPost, "/api/v1/apps", admin, map[string]any{"name": " Sync ", "scopes": []string{"org"}}).
		want(t, http.StatusConflict, "ALREADY_EXISTS")
	if r.Metadata["field"] != "name" {
		t.Fatalf("Sync again: %+v; want the field name", r)
	}
}
