//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
)

// revocationDeadline is how soon every instance must refuse a revoked token.
const revocationDeadline = 5 * time.Second

// waitRefused sends the request with token to s until it is refused with
// TOKEN_REVOKED, and returns how long after since that took; it fails the
// test past the deadline.
func waitRefused(t *testing.T, s *Service, since time.Time, what, method, path, token string, body any) time.Duration {
	t.Helper()
	for {
		r := authCall(t, s, method, path, token, body)
		if r.Status == http.StatusUnauthorized {
			if r.Reason != "TOKEN_REVOKED" {
				t.Fatalf("%s: refused with %s (%s), want TOKEN_REVOKED", what, r.Reason, r.Msg)
			}
			took := time.Since(since)
			t.Logf("%s: refused on %s %v after the revocation (%s)", what, s.HTTPAddr, took.Round(time.Millisecond), r.Msg)
			return took
		}
		if time.Since(since) > revocationDeadline {
			t.Fatalf("%s: still answered %d after %v", what, r.Status, revocationDeadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Revocation on two instances of one MariaDB database: what an admin
// changes on one instance ends the tokens it concerns on the other within
// seconds.
func TestRevocationAcrossInstancesOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	one := NewService(t, env)
	f := NewFixture(t, one)
	two := NewService(t, env)
	one.Start()
	two.Start()
	adminA := authLogin(t, one, *f.Admin.Email, f.Password)
	var times []time.Duration

	// A second admin, B, signed in on instance 1 and working on instance 2.
	var b struct {
		ID int64 `json:"id"`
	}
	emailB := strings.Replace(*f.Admin.Email, "admin.", "admin-b.", 1)
	authCall(t, one, http.MethodPost, "/api/v1/users", adminA.AccessToken,
		map[string]any{"name": "admin B", "email": emailB, "password": f.Password, "role": "admin"}).
		want(t, http.StatusCreated, "").decode(t, &b)
	sessionB := authLogin(t, one, emailB, f.Password)
	userB := fmt.Sprintf("/api/v1/users/%d", b.ID)
	authCall(t, two, http.MethodGet, "/api/v1/users", sessionB.AccessToken, nil).want(t, http.StatusOK, "")

	// A demotes B on instance 1: B's admin token stops on instance 2.
	at := time.Now()
	authCall(t, one, http.MethodPut, userB, adminA.AccessToken, map[string]any{"role": "rep"}).want(t, http.StatusOK, "")
	times = append(times, waitRefused(t, two, at, "demoted admin", http.MethodGet, "/api/v1/users", sessionB.AccessToken, nil))
	// The old token cannot make B admin again or lock A out, on either instance.
	for _, s := range []*Service{one, two} {
		authCall(t, s, http.MethodPut, userB, sessionB.AccessToken, map[string]any{"role": "admin"}).
			want(t, http.StatusUnauthorized, "TOKEN_REVOKED")
		authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", f.Admin.ID), sessionB.AccessToken, map[string]any{"status": "disabled"}).
			want(t, http.StatusUnauthorized, "TOKEN_REVOKED")
	}
	// The demotion ended B's refresh token too; signed in again, B holds a
	// rep's token, which changes no user.
	authRefresh(t, two, sessionB.RefreshToken).want(t, http.StatusUnauthorized, "")
	repB := authLogin(t, two, emailB, f.Password)
	authCall(t, two, http.MethodPut, userB, repB.AccessToken, map[string]any{"role": "admin"}).want(t, http.StatusForbidden, "")

	// A disables B on instance 1: B's token stops on instance 2, and B
	// cannot re-enable themselves, refresh or sign in.
	at = time.Now()
	authCall(t, one, http.MethodPut, userB, adminA.AccessToken, map[string]any{"status": "disabled"}).want(t, http.StatusOK, "")
	times = append(times, waitRefused(t, two, at, "disabled admin", http.MethodGet, "/api/v1/me", repB.AccessToken, nil))
	authCall(t, two, http.MethodPut, userB, repB.AccessToken, map[string]any{"status": "active", "role": "admin"}).
		want(t, http.StatusUnauthorized, "TOKEN_REVOKED")
	authRefresh(t, two, repB.RefreshToken).want(t, http.StatusUnauthorized, "")
	authCall(t, two, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": emailB, "password": f.Password}).
		want(t, http.StatusUnauthorized, "USER_DISABLED")
	// A is still admin.
	authCall(t, two, http.MethodGet, "/api/v1/users", adminA.AccessToken, nil).want(t, http.StatusOK, "")

	// A disabled rep can neither read nor comment.
	p := newPartner(t, one.GRPC(), f.AppToken(t))
	conv := p.create("revoke-1", f.Reps[0].ID, time.Now().UTC().Add(-time.Hour).Truncate(time.Second), 60_000, nil)
	rep := authLogin(t, one, *f.Reps[0].Email, f.Password)
	convPath := fmt.Sprintf("/api/v1/conversations/%d", conv)
	comment := map[string]any{"start_ms": 1_000, "text": "still here"}
	authCall(t, two, http.MethodGet, convPath, rep.AccessToken, nil).want(t, http.StatusOK, "")
	at = time.Now()
	authCall(t, one, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", f.Reps[0].ID), adminA.AccessToken, map[string]any{"status": "disabled"}).
		want(t, http.StatusOK, "")
	times = append(times, waitRefused(t, two, at, "disabled rep reading", http.MethodGet, convPath, rep.AccessToken, nil))
	authCall(t, two, http.MethodPost, convPath+"/comments", rep.AccessToken, comment).want(t, http.StatusUnauthorized, "TOKEN_REVOKED")
	authCall(t, one, http.MethodPost, convPath+"/comments", rep.AccessToken, comment).want(t, http.StatusUnauthorized, "TOKEN_REVOKED")

	// Logout on instance 2 ends every session of the user, refresh tokens
	// included, on instance 1.
	first, second := authLogin(t, one, *f.Reps[1].Email, f.Password), authLogin(t, two, *f.Reps[1].Email, f.Password)
	authCall(t, one, http.MethodGet, "/api/v1/me", first.AccessToken, nil).want(t, http.StatusOK, "")
	at = time.Now()
	authCall(t, two, http.MethodPost, "/api/v1/auth/logout", second.AccessToken, nil).want(t, http.StatusOK, "")
	times = append(times, waitRefused(t, one, at, "signed out", http.MethodGet, "/api/v1/me", first.AccessToken, nil))
	authCall(t, two, http.MethodGet, "/api/v1/me", second.AccessToken, nil).want(t, http.StatusUnauthorized, "TOKEN_REVOKED")
	authRefresh(t, one, first.RefreshToken).want(t, http.StatusUnauthorized, "")
	authRefresh(t, two, second.RefreshToken).want(t, http.StatusUnauthorized, "")
	authLogin(t, one, *f.Reps[1].Email, f.Password) // signing in again works

	// A password change on instance 2 ends the other sessions on instance 1.
	other, this := authLogin(t, one, *f.Reps[2].Email, f.Password), authLogin(t, two, *f.Reps[2].Email, f.Password)
	authCall(t, two, http.MethodPut, "/api/v1/me/password", this.AccessToken,
		map[string]string{"current_password": "wrong password", "new_password": "a new password 1"}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, one, http.MethodGet, "/api/v1/me", other.AccessToken, nil).want(t, http.StatusOK, "")
	var renewed authPair
	at = time.Now()
	authCall(t, two, http.MethodPut, "/api/v1/me/password", this.AccessToken,
		map[string]string{"current_password": f.Password, "new_password": "a new password 1"}).want(t, http.StatusOK, "").decode(t, &renewed)
	times = append(times, waitRefused(t, one, at, "password changed", http.MethodGet, "/api/v1/me", other.AccessToken, nil))
	authRefresh(t, one, other.RefreshToken).want(t, http.StatusUnauthorized, "")
	if authMeID(t, one, renewed.AccessToken) != f.Reps[2].ID {
		t.Fatal("the new pair is another user's")
	}
	authRefresh(t, one, renewed.RefreshToken).want(t, http.StatusOK, "")
	authLogin(t, one, *f.Reps[2].Email, "a new password 1")

	worst := time.Duration(0)
	for _, d := range times {
		worst = max(worst, d)
	}
	t.Logf("time to refusal on the other instance: %v (worst %v, deadline %v)", times, worst.Round(time.Millisecond), revocationDeadline)
}

// A user disabled while their own password change is under way (two
// bcrypt rounds after reading them) stays disabled, on MariaDB: the
// change writes the password of an active user only, never the row it
// read before.
func TestPasswordChangeKeepsAConcurrentDisableOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := authLogin(t, s, *f.Admin.Email, f.Password)
	const newPassword = "a new password 1"
	for i, delay := range []time.Duration{0, 5, 10, 20, 30, 45, 60, 80, 100, 130} {
		email := fmt.Sprintf("racer-%d@e2e.test", i)
		var u struct {
			ID int64 `json:"id"`
		}
		authCall(t, s, http.MethodPost, "/api/v1/users", admin.AccessToken,
			map[string]any{"name": "racer", "email": email, "password": f.Password, "role": "rep"}).
			want(t, http.StatusCreated, "").decode(t, &u)
		session := authLogin(t, s, email, f.Password)
		changed := make(chan authResult, 1)
		go func() {
			r, err := tryCall(s, http.MethodPut, "/api/v1/me/password", session.AccessToken,
				map[string]string{"current_password": f.Password, "new_password": newPassword})
			if err != nil {
				t.Error(err)
			}
			changed <- r
		}()
		time.Sleep(delay * time.Millisecond)
		authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", u.ID), admin.AccessToken, map[string]any{"status": "disabled"}).
			want(t, http.StatusOK, "")
		r := <-changed
		t.Logf("disable %v after the change began: the change answered %d %s", delay*time.Millisecond, r.Status, r.Reason)
		for _, pw := range []string{f.Password, newPassword} {
			if got := authCall(t, s, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": email, "password": pw}); got.Status == http.StatusOK {
				t.Fatalf("round %d: the disabled user signs in again (the change answered %d %s)", i, r.Status, r.Reason)
			}
		}
		var users struct {
			Users []struct {
				ID     int64  `json:"id"`
				Status string `json:"status"`
			} `json:"users"`
		}
		authCall(t, s, http.MethodGet, "/api/v1/users?page_size=100", admin.AccessToken, nil).want(t, http.StatusOK, "").decode(t, &users)
		for _, got := range users.Users {
			if got.ID == u.ID && got.Status != "disabled" {
				t.Fatalf("round %d: the user is %s after being disabled", i, got.Status)
			}
		}
	}
}

// An admin demoted while signing in (the password compare takes a bcrypt
// round) gets no admin token, on MariaDB: the token is signed from the
// user as read after its version.
func TestSignInDuringADemotionOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := authLogin(t, s, *f.Admin.Email, f.Password)
	for i, delay := range []time.Duration{0, 5, 10, 20, 30, 45, 60, 80} {
		email := fmt.Sprintf("admin-racer-%d@e2e.test", i)
		var u struct {
			ID int64 `json:"id"`
		}
		authCall(t, s, http.MethodPost, "/api/v1/users", admin.AccessToken,
			map[string]any{"name": "admin racer", "email": email, "password": f.Password, "role": "admin"}).
			want(t, http.StatusCreated, "").decode(t, &u)
		signedIn := make(chan authResult, 1)
		go func() {
			r, err := tryCall(s, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": email, "password": f.Password})
			if err != nil {
				t.Error(err)
			}
			signedIn <- r
		}()
		time.Sleep(delay * time.Millisecond)
		authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", u.ID), admin.AccessToken, map[string]any{"role": "rep"}).
			want(t, http.StatusOK, "")
		r := <-signedIn
		if r.Status != http.StatusOK {
			t.Fatalf("round %d: sign-in answered %d %s", i, r.Status, r.Reason)
		}
		var pair authPair
		r.decode(t, &pair)
		if got := authCall(t, s, http.MethodGet, "/api/v1/apps", pair.AccessToken, nil); got.Status == http.StatusOK {
			t.Fatalf("round %d: demoted %v after signing in began, the user holds an admin token", i, delay*time.Millisecond)
		}
	}
}

// An app disabled while its secret is being rotated (a bcrypt round after
// reading the app) stays disabled, on MariaDB: the rotation writes the
// secrets only.
func TestRotationKeepsAConcurrentDisableOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := authLogin(t, s, *f.Admin.Email, f.Password)
	var app struct {
		ID int64 `json:"id"`
	}
	authCall(t, s, http.MethodPost, "/api/v1/apps", admin.AccessToken, map[string]any{"name": "racer", "scopes": []string{"read"}}).
		want(t, http.StatusCreated, "").decode(t, &app)
	path := fmt.Sprintf("/api/v1/apps/%d", app.ID)
	for i, delay := range []time.Duration{0, 5, 10, 20, 30, 45, 60} {
		authCall(t, s, http.MethodPost, path+"/enable", admin.AccessToken, nil).want(t, http.StatusOK, "")
		rotated := make(chan authResult, 1)
		go func() {
			r, err := tryCall(s, http.MethodPost, path+"/rotate-secret", admin.AccessToken, map[string]any{})
			if err != nil {
				t.Error(err)
			}
			rotated <- r
		}()
		time.Sleep(delay * time.Millisecond)
		authCall(t, s, http.MethodPost, path+"/disable", admin.AccessToken, nil).want(t, http.StatusOK, "")
		r := <-rotated
		var got struct {
			Status string `json:"status"`
		}
		authCall(t, s, http.MethodGet, path, admin.AccessToken, nil).want(t, http.StatusOK, "").decode(t, &got)
		if got.Status != "disabled" {
			t.Fatalf("round %d: disabled %v after a rotation began (it answered %d), the app is %s", i, delay*time.Millisecond, r.Status, got.Status)
		}
	}
}

// A user update on MariaDB writes each changed column only where it still
// holds what was read: from NULL (a phone added), to NULL (a department
// taken away), a password with an email, one after the other. (The
// CONFLICT of an update overtaken by another is the unit tests'.)
func TestUserUpdatesWriteWhatTheyChangeOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := authLogin(t, s, *f.Admin.Email, f.Password).AccessToken
	var u orgUser
	authCall(t, s, http.MethodPost, "/api/v1/users", admin,
		map[string]any{"name": "Column Writer", "email": "columns@e2e.test", "password": f.Password, "department_id": f.Support.ID}).
		want(t, http.StatusCreated, "").decode(t, &u)
	path := fmt.Sprintf("/api/v1/users/%d", u.ID)
	var got orgUser
	for _, change := range []map[string]any{
		{"phone": "+86 138 0013 8000"},
		{"department_id": 0},
		{"email": "columns-2@e2e.test", "password": "another good password"},
	} {
		authCall(t, s, http.MethodPut, path, admin, change).want(t, http.StatusOK, "").decode(t, &got)
	}
	if got.Phone == nil || *got.Phone != "+8613800138000" || got.DepartmentID != nil || got.Email == nil || *got.Email != "columns-2@e2e.test" {
		t.Fatalf("after three updates: %+v", got)
	}
	authLogin(t, s, "columns-2@e2e.test", "another good password")
}

// An app disabled while it signs in (the secret compare takes a bcrypt
// round) gets no working token, on MariaDB: the token is signed from the
// app as read after its version.
func TestAppTokenDuringADisableOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := authLogin(t, s, *f.Admin.Email, f.Password)
	var app controller.AppSecretJSON
	authCall(t, s, http.MethodPost, "/api/v1/apps", admin.AccessToken, map[string]any{"name": "racer", "scopes": []string{"read"}}).
		want(t, http.StatusCreated, "").decode(t, &app)
	path := fmt.Sprintf("/api/v1/apps/%d", app.ID)
	auth := openv1.NewAuthServiceClient(s.GRPC())
	minted := 0
	for i, delay := range []time.Duration{0, 2, 5, 10, 20, 30, 45, 60} {
		authCall(t, s, http.MethodPost, path+"/enable", admin.AccessToken, nil).want(t, http.StatusOK, "")
		signedIn := make(chan *openv1.CreateAppTokenResponse, 1)
		go func() {
			res, _ := auth.CreateAppToken(t.Context(), &openv1.CreateAppTokenRequest{AppKey: app.AppKey, AppSecret: app.AppSecret})
			signedIn <- res
		}()
		time.Sleep(delay * time.Millisecond)
		authCall(t, s, http.MethodPost, path+"/disable", admin.AccessToken, nil).want(t, http.StatusOK, "")
		res := <-signedIn
		if res == nil {
			continue
		}
		minted++
		if got := authCall(t, s, http.MethodGet, "/api/v1/conversations", res.AccessToken, nil); got.Status == http.StatusOK {
			t.Fatalf("round %d: disabled %v after signing in began, the app holds a working token", i, delay*time.Millisecond)
		}
	}
	t.Logf("%d of the sign-ins got a token before the disable", minted)
}

// An instance started after an app was disabled on another refuses the
// app's token from its first answer: its first read of the revocations,
// by the database's clock, which stamped the raise, finds the disable.
func TestAnInstanceStartedAfterADisableRefusesTheAppOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	one := NewService(t, env)
	f := NewFixture(t, one)
	one.Start()
	admin := f.Token(t, f.Admin)
	app, tok := newAppClient(t, one).readerApp(one, admin, "disabled before the start")
	authCall(t, one, http.MethodGet, "/api/v1/conversations?page_size=1", tok, nil).want(t, http.StatusOK, "")
	authCall(t, one, http.MethodPost, fmt.Sprintf("/api/v1/apps/%d/disable", app.ID), admin, nil).want(t, http.StatusOK, "")
	var stamped time.Time
	if err := f.DB.Raw("SELECT changed_at FROM token_versions WHERE kind = ? AND subject_id = ?", model.TokenVersionApp, app.ID).Row().Scan(&stamped); err != nil {
		t.Fatal(err)
	}
	var dbNow time.Time
	if err := f.DB.Raw("SELECT UTC_TIMESTAMP(3)").Row().Scan(&dbNow); err != nil {
		t.Fatal(err)
	}
	if d := dbNow.Sub(stamped); d < 0 || d > 10*time.Second {
		t.Fatalf("the disable was stamped %v, %v before the database's clock", stamped, d)
	}
	two := NewService(t, env)
	two.Start()
	authCall(t, two, http.MethodGet, "/api/v1/conversations?page_size=1", tok, nil).want(t, http.StatusUnauthorized, "TOKEN_REVOKED")
}
