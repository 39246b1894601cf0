package identity_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/logic/identity"
)

// noted is what a use case noted on an audited call for its record: the
// actor as "tenant/kind/id" ("" when none) and the target as "type:id".
type noted struct{ actor, target string }

// auditedCall runs f in an audited call and returns what it noted and the
// reason of its error.
func auditedCall(ctx context.Context, f func(ctx context.Context) error) (noted, string) {
	call := &audit.Call{}
	err := f(audit.WithCall(ctx, call))
	tenant, kind, id, ok, typ, target := call.Noted()
	var n noted
	if ok {
		n.actor = strconv.FormatInt(tenant, 10) + "/" + kind + "/" + strconv.FormatInt(id, 10)
	}
	if typ != "" || target != "" {
		n.target = typ + ":" + target
	}
	return n, errs.ReasonOf(err)
}

// A refresh token the service issued names its user in the trail
// whatever the answer: a spent one presented again (a theft, which
// revokes the user's sessions), one of the family that revoked, and an
// expired one are charged to the user in their tenant, where the tenant's
// admins read them, not to nobody. A token never issued names no one.
func TestRefusedRefreshesNameTheirUser(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	rep := w.reps[0]
	want := noted{actor: strconv.FormatInt(w.tenant.ID, 10) + "/user/" + strconv.FormatInt(rep.ID, 10), target: "user:" + strconv.FormatInt(rep.ID, 10)}
	refresh := func(token string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: token})
			return err
		}
	}
	first, err := w.auth.Login(ctx, identity.LoginRequest{Account: *rep.Email, Password: w.password})
	if err != nil {
		t.Fatal(err)
	}
	second, err := w.auth.Refresh(ctx, identity.RefreshRequest{RefreshToken: first.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	expiring, err := w.auth.Login(ctx, identity.LoginRequest{Account: *rep.Email, Password: w.password})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what, token string
		want        noted
	}{
		{"a spent token again", first.RefreshToken, want},
		{"a token of the family its reuse revoked", second.RefreshToken, want},
		{"the spent token once more", first.RefreshToken, want},
		{"a token never issued", "not-a-token-we-issued", noted{}},
	} {
		got, reason := auditedCall(ctx, refresh(c.token))
		if reason != errs.ReasonUnauthenticated || got != c.want {
			t.Errorf("%s: %s, noted %+v, want UNAUTHENTICATED noted %+v", c.what, reason, got, c.want)
		}
	}
	w.clock.Add(24*time.Hour + time.Millisecond)
	if got, reason := auditedCall(ctx, refresh(expiring.RefreshToken)); reason != errs.ReasonUnauthenticated || got != want {
		t.Errorf("an expired token: %s, noted %+v, want UNAUTHENTICATED noted %+v", reason, got, want)
	}
}

// A throttled sign-in of an account a user has, and a throttled app token
// of an app's key, name that user or app in the trail, as a failed one
// does, so the tenant's admins see a brute force while it is refused. A
// throttled sign-in of an account nobody has names no one, and its answer
// and the queries it costs are those of a known account's.
func TestThrottledSignInsNameTheAccount(t *testing.T) {
	w := newOrgWorld(t)
	ctx := fromAddr(context.Background(), "192.0.2.7")
	rep := w.reps[1]
	login := func(account string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := w.auth.Login(ctx, identity.LoginRequest{Account: account, Password: "wrong password"})
			return err
		}
	}
	type outcome struct {
		noted   noted
		reason  string
		message string
		hits    int64
	}
	throttled := func(account string) outcome {
		t.Helper()
		for range 5 {
			if _, reason := auditedCall(ctx, login(account)); reason != errs.ReasonUnauthenticated {
				t.Fatalf("%s: %s before the budget was spent", account, reason)
			}
		}
		before := w.throttle.hits.Load()
		var err error
		got, reason := auditedCall(ctx, func(ctx context.Context) error { err = login(account)(ctx); return err })
		return outcome{got, reason, fmt.Sprint(err, errs.From(err).Metadata), w.throttle.hits.Load() - before}
	}
	known, unknown := throttled(*rep.Email), throttled("nobody@acme.test")
	id := strconv.FormatInt(rep.ID, 10)
	if want := (noted{actor: strconv.FormatInt(w.tenant.ID, 10) + "/user/" + id, target: "user:" + id}); known.reason != errs.ReasonRateLimited || known.noted != want {
		t.Errorf("a known account throttled: %s, noted %+v, want RATE_LIMITED noted %+v", known.reason, known.noted, want)
	}
	if unknown.reason != errs.ReasonRateLimited || unknown.noted != (noted{}) {
		t.Errorf("an unknown account throttled: %s, noted %+v, want RATE_LIMITED noted nothing", unknown.reason, unknown.noted)
	}
	if known.message != unknown.message || known.hits != unknown.hits {
		t.Errorf("throttled answers tell a known account (%q, %d throttle writes) from an unknown one (%q, %d)", known.message, known.hits, unknown.message, unknown.hits)
	}

	app := func(ctx context.Context) error {
		_, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: w.app.AppKey, AppSecret: "wrong secret"})
		return err
	}
	var got noted
	var reason string
	for range 6 {
		got, reason = auditedCall(ctx, app)
	}
	appID := strconv.FormatInt(w.app.ID, 10)
	if want := (noted{actor: strconv.FormatInt(w.app.TenantID, 10) + "/app/" + appID, target: "app:" + appID}); reason != errs.ReasonRateLimited || got != want {
		t.Errorf("an app key throttled: %s, noted %+v, want RATE_LIMITED noted %+v", reason, got, want)
	}
}
