//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/model"
)

// TestAccountsAreUniqueByteForByteOnMariaDB: an email is looked up byte
// for byte once trimmed and lower-cased, and a phone as E.164, so rép1@…
// and ｒep1@… (a fullwidth letter) are not rep1@…, whom signing in with
// them never finds. MariaDB's collation still took them for rep1@… in the
// unique keys, and creating a user with one was refused as another user's
// account (409), although no user had it. Now each is a user of its own who
// signs in with it, rep1@… in capitals is still rep1's, and a number that a
// user stored by an earlier release has in fullwidth digits, which no
// sign-in finds, is free.
func TestAccountsAreUniqueByteForByteOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	rep := f.Reps[0]
	email := *rep.Email // rep1.<tag>@test.mgv
	for i, v := range []string{strings.Replace(email, "rep1", "rép1", 1), strings.Replace(email, "rep1", "ｒep1", 1)} {
		password := fmt.Sprintf("a good password %d", i)
		var u orgUser
		authCall(t, s, http.MethodPost, "/api/v1/users", admin, map[string]any{"name": fmt.Sprint("Twin ", i), "email": v, "password": password}).
			want(t, http.StatusCreated, "").decode(t, &u)
		if u.Email == nil || *u.Email != v || u.ID == rep.ID {
			t.Fatalf("created %+v for %q", u, v)
		}
		if id := authMeID(t, s, authLogin(t, s, v, password).AccessToken); id != u.ID {
			t.Fatalf("signing in as %q is user %d, want %d", v, id, u.ID)
		}
	}
	r := authCall(t, s, http.MethodPost, "/api/v1/users", admin, map[string]any{"name": "Upper", "email": strings.ToUpper(email), "password": "a good password"}).
		want(t, http.StatusConflict, "ALREADY_EXISTS")
	if r.Metadata["field"] != "email" {
		t.Fatalf("rep1's address in capitals: %+v; want the field email", r)
	}
	if id := authMeID(t, s, authLogin(t, s, email, f.Password).AccessToken); id != rep.ID {
		t.Fatalf("signing in as %q is user %d, want %d", email, id, rep.ID)
	}

	// A number as an earlier release stored it, typed in fullwidth digits.
	legacy := "＋８６１３８００１３８０９９"
	now := time.Now().UTC()
	old := model.User{TenantID: f.Tenant.ID, Name: "Legacy", Phone: &legacy, Role: model.RoleRep, Status: model.UserActive, CreatedAt: now, UpdatedAt: now}
	if err := f.DB.Create(&old).Error; err != nil {
		t.Fatal(err)
	}
	var u orgUser
	authCall(t, s, http.MethodPost, "/api/v1/users", admin, map[string]any{"name": "New number", "phone": "+8613800138099", "password": "a good password"}).
		want(t, http.StatusCreated, "").decode(t, &u)
	if u.Phone == nil || *u.Phone != "+8613800138099" {
		t.Fatalf("created %+v", u)
	}
	if id := authMeID(t, s, authLogin(t, s, "+8613800138099", "a good password").AccessToken); id != u.ID {
		t.Fatalf("signing in as +8613800138099 is user %d, want %d", id, u.ID)
	}
}
