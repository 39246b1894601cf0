//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc/codes"

	"github.com/megaview/mgvcore/internal/http/controller"
)

// refusedEverywhere waits until every instance refuses token as revoked and
// returns the time to refusal on each, since the revocation.
func refusedEverywhere(t *testing.T, fleet []*Service, since time.Time, what, path, token string) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, s := range fleet {
		out = append(out, waitRefused(t, s, since, what, http.MethodGet, path, token, nil))
	}
	return out
}

// R9: two real instances on one MariaDB database, each registered in
// Consul as one service. A disabled user, a demoted admin's old token, a
// signed-out session, a disabled app and a rotated app (at once, and at the
// end of a grace) are refused on both instances within 5 s of the change
// made on one of them; 200 wrong passwords for one account, 20 at a time
// over both instances, are throttled by the fleet's count.
func TestR9RevocationAcrossTwoInstances(t *testing.T) {
	consulAddr := requireEnv(t, "MGV_TEST_CONSUL_ADDR")
	env := mysqlEnv(t)
	name := fmt.Sprintf("mgvcore-r9-%d", time.Now().UnixNano())
	for k, v := range map[string]string{
		"MGV_CONSUL_ENABLED": "true", "MGV_CONSUL_ADDR": consulAddr, "MGV_CONSUL_SERVICE_NAME": name,
		"MGV_CONSUL_CHECK_INTERVAL": "1s",
		// The per-address request rate is not what is tested here.
		"MGV_RATELIMIT_ANON_RPS": "10000", "MGV_RATELIMIT_ANON_BURST": "10000",
	} {
		env[k] = v
	}
	one := NewService(t, env)
	f := NewFixture(t, one)
	two := NewService(t, env)
	one.Start()
	two.Start()
	fleet := []*Service{one, two}
	client, err := api.NewClient(&api.Config{Address: consulAddr})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	for _, s := range fleet {
		_, port, _ := net.SplitHostPort(s.HTTPAddr)
		waitPassing(t, client.Agent(), name+"-"+host+"-"+port, "instance "+s.HTTPAddr)
	}
	times := map[string][]time.Duration{}
	admin := authLogin(t, one, *f.Admin.Email, f.Password).AccessToken

	// A disabled user.
	rep := authLogin(t, two, *f.Reps[0].Email, f.Password)
	at := time.Now()
	authCall(t, one, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", f.Reps[0].ID), admin, map[string]any{"status": "disabled"}).
		want(t, http.StatusOK, "")
	times["disabled user"] = refusedEverywhere(t, fleet, at, "disabled user", "/api/v1/me", rep.AccessToken)

	// A demoted admin's old token.
	var b struct {
		ID int64 `json:"id"`
	}
	emailB := strings.Replace(*f.Admin.Email, "admin.", "admin-r9.", 1)
	authCall(t, one, http.MethodPost, "/api/v1/users", admin, map[string]any{"name": "admin B", "email": emailB, "password": f.Password, "role": "admin"}).
		want(t, http.StatusCreated, "").decode(t, &b)
	adminB := authLogin(t, two, emailB, f.Password).AccessToken
	authCall(t, two, http.MethodGet, "/api/v1/apps", adminB, nil).want(t, http.StatusOK, "")
	at = time.Now()
	authCall(t, one, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", b.ID), admin, map[string]any{"role": "rep"}).want(t, http.StatusOK, "")
	times["demoted admin"] = refusedEverywhere(t, fleet, at, "demoted admin", "/api/v1/apps", adminB)

	// A signed-out session.
	session := authLogin(t, one, *f.Reps[1].Email, f.Password)
	at = time.Now()
	authCall(t, two, http.MethodPost, "/api/v1/auth/logout", session.AccessToken, nil).want(t, http.StatusOK, "")
	times["signed out"] = refusedEverywhere(t, fleet, at, "signed out", "/api/v1/me", session.AccessToken)

	// Apps: tokens got from instance two, changes made on instance one.
	c := newAppClient(t, two)
	newApp := func(name string) controller.AppSecretJSON {
		var a controller.AppSecretJSON
		authCall(t, one, http.MethodPost, "/api/v1/apps", admin, map[string]any{"name": name, "scopes": []string{"read"}}).
			want(t, http.StatusCreated, "").decode(t, &a)
		return a
	}
	const appPath = "/api/v1/conversations?page_size=1"
	disabled := newApp("R9 disabled")
	tok := c.mustToken(disabled.AppKey, disabled.AppSecret)
	at = time.Now()
	authCall(t, one, http.MethodPost, fmt.Sprintf("/api/v1/apps/%d/disable", disabled.ID), admin, nil).want(t, http.StatusOK, "")
	times["disabled app"] = refusedEverywhere(t, fleet, at, "disabled app", appPath, tok)
	c.wantToken(disabled.AppKey, disabled.AppSecret, codes.Unauthenticated, "APP_DISABLED")

	tok = c.mustToken(f.App.AppKey, f.AppSecret)
	at = time.Now()
	authCall(t, one, http.MethodPost, fmt.Sprintf("/api/v1/apps/%d/rotate-secret", f.App.ID), admin, nil).want(t, http.StatusOK, "")
	times["rotated app"] = refusedEverywhere(t, fleet, at, "rotated app", appPath, tok)

	// Rotated with a grace of 3 s: the old secret's token works on both
	// instances until the grace ends, then is refused on both.
	graced := newApp("R9 graced")
	tok = c.mustToken(graced.AppKey, graced.AppSecret)
	var rotated controller.AppSecretJSON
	authCall(t, one, http.MethodPost, fmt.Sprintf("/api/v1/apps/%d/rotate-secret", graced.ID), admin, map[string]any{"grace_seconds": 3}).
		want(t, http.StatusOK, "").decode(t, &rotated)
	if rotated.OldSecretUntil == nil {
		t.Fatal("no grace in the answer")
	}
	for _, s := range fleet {
		if r := authCall(t, s, http.MethodGet, appPath, tok, nil); r.Status != http.StatusOK && time.Now().Before(*rotated.OldSecretUntil) {
			t.Fatalf("the old secret's token during its grace on %s: %d %s", s.HTTPAddr, r.Status, r.Reason)
		}
	}
	times["rotated app, grace ended"] = refusedEverywhere(t, fleet, *rotated.OldSecretUntil, "rotated app, after its grace", appPath, tok)
	fresh := c.mustToken(graced.AppKey, rotated.AppSecret)
	for _, s := range fleet {
		authCall(t, s, http.MethodGet, appPath, fresh, nil).want(t, http.StatusOK, "")
	}

	worst := time.Duration(0)
	for _, what := range []string{"disabled user", "demoted admin", "signed out", "disabled app", "rotated app", "rotated app, grace ended"} {
		ds := times[what]
		for _, d := range ds {
			worst = max(worst, d)
		}
		t.Logf("R9 time to refusal, %s: instance one %v, instance two %v", what, ds[0].Round(time.Millisecond), ds[1].Round(time.Millisecond))
	}
	t.Logf("R9 worst time to refusal %v (deadline %v)", worst.Round(time.Millisecond), revocationDeadline)

	// 200 wrong passwords for one account, 20 at a time over both instances.
	start := time.Now()
	unauth, _ := tally(t, "R9 wrong passwords", hammer(t, fleet, *f.Reps[3].Email, 200, 20))
	t.Logf("R9 throttling: %d of 200 answered 401, the rest 429, in %v", unauth, time.Since(start).Round(time.Millisecond))
}
