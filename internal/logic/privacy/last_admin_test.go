package privacy_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/logic/privacy"
	"github.com/megaview/mgvcore/internal/model"
)

// admins is a tenant with two active admins, the privacy service, and a
// runner that revokes tokens through the service's own Revocations.
type admins struct {
	db          *gorm.DB
	repo        *dao.Privacy
	tenant      int64
	first       model.User
	second      model.User
	service     *privacy.Service
	revocations *identity.Revocations
	audit       *auditLog
	lease       time.Duration
}

func newAdmins(t *testing.T) *admins {
	t.Helper()
	db := daotest.Open(t)
	tenant, _ := guestCalls(t, db, "Nobody", 0)
	a := &admins{db: db, repo: dao.NewPrivacy(db), tenant: tenant, audit: &auditLog{}, lease: time.Second}
	user := func(name string) model.User {
		email := name + "@example.test"
		u := model.User{TenantID: tenant, Name: name, Email: &email, Role: model.RoleAdmin, Status: model.UserActive, PasswordHash: "x"}
		if err := dao.NewUsers(db).Create(context.Background(), &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	a.first, a.second = user("first"), user("second")
	a.service = privacy.NewService(a.repo, 100, nil)
	a.revocations = identity.NewRevocations(dao.NewTokenVersions(db), identity.RevocationOptions{
		Keep: time.Hour, AfterCommit: dao.NewTransactor(db).AfterCommit})
	return a
}

func (a *admins) runner() *privacy.Runner { return a.runnerFailing(nil) }

// runnerFailing is a runner whose revocation, the last step of the
// transaction that anonymises a user, revokes and then returns what fail
// returns (nil: nothing).
func (a *admins) runnerFailing(fail func() error) *privacy.Runner {
	tx := dao.NewTransactor(a.db)
	var revoke privacy.Revoker = a.revocations
	if fail != nil {
		revoke = failingRevoker{a.revocations, fail}
	}
	return privacy.NewRunner(a.repo, conversation.NewDeleter(dao.NewConversations(a.db), tx), revoke, tx,
		privacy.RunnerOptions{Lease: a.lease, Audit: a.audit}, zerolog.Nop())
}

type failingRevoker struct {
	privacy.Revoker
	fail func() error
}

func (f failingRevoker) Revoke(ctx context.Context, kind string, tenantID, id int64, reason string) error {
	if err := f.Revoker.Revoke(ctx, kind, tenantID, id, reason); err != nil {
		return err
	}
	return f.fail()
}

// erase starts, as the first admin, the erasure of u.
func (a *admins) erase(t *testing.T, u model.User) int64 {
	t.Helper()
	e, err := a.service.StartErasure(accesstest.User(model.RoleAdmin, a.tenant, a.first.ID), privacy.Subject{Email: *u.Email})
	if err != nil || e.Status != model.ErasurePending || !e.InternalUser {
		t.Fatalf("start erasing %s: %+v %v", u.Name, e, err)
	}
	return e.ID
}

// tokenWorks reports whether a token u was issued at its current version
// before the erasures passes the revocation check, in memory and as
// stored.
func (a *admins) tokenWorks(t *testing.T, u model.User) bool {
	t.Helper()
	v, err := dao.NewTokenVersions(a.db).Current(context.Background(), model.TokenVersionUser, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := &identity.Claims{Kind: identity.TokenAccess, TenantID: a.tenant, Role: model.RoleAdmin,
		RegisteredClaims: jwt.RegisteredClaims{Subject: strconv.FormatInt(u.ID, 10)}}
	return v.Version == 0 && a.revocations.Check(c) == nil
}

func (a *admins) job(t *testing.T, id int64) model.Erasure {
	t.Helper()
	e, err := a.repo.GetErasure(context.Background(), a.tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestErasingBothAdminsFailsTheSecondForGood: an admin erases the other
// and themselves at once; both jobs are accepted, the two admins being
// active. The first to run anonymises its admin; the second meets
// LAST_ADMIN and ends failed, its reason recorded, its subject cleared and
// its end audited, and is never taken up again. The admin left keeps
// every token: nothing is revoked for an erasure that anonymised no one.
func TestErasingBothAdminsFailsTheSecondForGood(t *testing.T) {
	a := newAdmins(t)
	ctx := context.Background()
	other, self := a.erase(t, a.second), a.erase(t, a.first)
	r := a.runner()
	for range 2 {
		if worked, err := r.RunOnce(ctx); !worked || err != nil {
			t.Fatalf("run: %v %v", worked, err)
		}
	}
	if e := a.job(t, other); e.Status != model.ErasureDone || e.UsersAnonymised != 1 || e.Subject != "" {
		t.Fatalf("erasure of the other admin: %+v", e)
	}
	e := a.job(t, self)
	if e.Status != model.ErasureFailed || !strings.HasPrefix(e.LastError, "LAST_ADMIN: ") || e.Subject != "" ||
		e.FinishedAt == nil || e.UsersAnonymised != 0 || e.LeaseOwner == "" {
		t.Fatalf("erasure of the last admin: %+v", e)
	}
	if strings.Contains(e.LastError, *a.first.Email) {
		t.Errorf("the reason names the person: %q", e.LastError)
	}
	want := "privacy.erasure.run erasure " + strconv.FormatInt(self, 10) + " LAST_ADMIN"
	if len(a.audit.ops) != 2 || a.audit.ops[1] != want {
		t.Errorf("audit %q, want the second %q", a.audit.ops, want)
	}
	if a.tokenWorks(t, a.second) {
		t.Error("the erased admin's tokens still work")
	}
	if !a.tokenWorks(t, a.first) {
		t.Fatal("the last admin's tokens were revoked")
	}

	// Leases run out: the failed job is never taken up again.
	time.Sleep(a.lease + 200*time.Millisecond)
	if worked, err := r.RunOnce(ctx); worked || err != nil {
		t.Fatalf("a finished job ran again: %v %v", worked, err)
	}
	if !a.tokenWorks(t, a.first) {
		t.Error("the last admin's tokens were revoked after the lease")
	}
	u, err := dao.NewUsers(a.db).ByID(ctx, a.tenant, a.first.ID)
	if err != nil || u.Status != model.UserActive || u.Role != model.RoleAdmin || u.Email == nil {
		t.Fatalf("the last admin: %+v %v", u, err)
	}
}

// TestErasureRevokesTokensOnlyWithTheAnonymisation: when the transaction
// that anonymises a user rolls back (here its last step fails, for now),
// the user's tokens still work, in memory and as stored; the retry
// anonymises them and revokes their tokens together.
func TestErasureRevokesTokensOnlyWithTheAnonymisation(t *testing.T) {
	a := newAdmins(t)
	ctx := context.Background()
	id := a.erase(t, a.second)
	fails := true
	r := a.runnerFailing(func() error {
		if fails {
			return errs.Unavailable("token versions")
		}
		return nil
	})
	if worked, err := r.RunOnce(ctx); !worked || !errs.Is(err, errs.ReasonDependencyUnavailable) {
		t.Fatalf("run: %v %v", worked, err)
	}
	if e := a.job(t, id); e.Status != model.ErasurePending || e.Subject == "" {
		t.Fatalf("a job that failed for now: %+v", e)
	}
	if u, err := dao.NewUsers(a.db).ByID(ctx, a.tenant, a.second.ID); err != nil || u.Email == nil || u.Status != model.UserActive {
		t.Fatalf("the user after a rolled back anonymisation: %+v %v", u, err)
	}
	if !a.tokenWorks(t, a.second) {
		t.Fatal("tokens revoked by an anonymisation that rolled back")
	}
	fails = false
	time.Sleep(a.lease + 200*time.Millisecond)
	if worked, err := r.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("retry: %v %v", worked, err)
	}
	if e := a.job(t, id); e.Status != model.ErasureDone || e.UsersAnonymised != 1 {
		t.Fatalf("the retried job: %+v", e)
	}
	if a.tokenWorks(t, a.second) {
		t.Error("the anonymised user's tokens still work")
	}
}

// TestErasureFailsForGoodOnADomainError: a refusal that every retry
// would meet again ends the job; what can pass is retried.
func TestErasureFailsForGoodOnADomainError(t *testing.T) {
	for _, c := range []struct {
		err   error
		final bool
	}{
		{errs.Of(errs.ReasonLastAdmin, "last admin"), true},
		{errs.AlreadyExists("id", "taken"), true},
		{errs.NotFound(errs.ReasonUserNotFound, "gone"), true},
		{errs.Unavailable("database"), false},
		{errs.Conflict("deadlock"), false},
		{errs.Internal(errors.New("boom")), false},
		{context.DeadlineExceeded, false},
	} {
		t.Run(errs.ReasonOf(c.err), func(t *testing.T) {
			a := newAdmins(t)
			id := a.erase(t, a.second)
			r := a.runnerFailing(func() error { return c.err })
			worked, err := r.RunOnce(context.Background())
			e := a.job(t, id)
			if c.final {
				if !worked || err != nil || e.Status != model.ErasureFailed || e.Subject != "" ||
					!strings.HasPrefix(e.LastError, errs.ReasonOf(c.err)+": ") || e.UsersAnonymised != 0 {
					t.Fatalf("%v %v: %+v, want failed for good", worked, err, e)
				}
				if !a.tokenWorks(t, a.second) {
					t.Error("a failed erasure revoked tokens")
				}
				return
			}
			if !worked || err == nil || e.Status != model.ErasurePending || e.Subject == "" {
				t.Fatalf("%v %v: %+v, want pending for a retry", worked, err, e)
			}
		})
	}
}
