//go:build e2e

package e2e

import (
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestRefusedRefreshAuditedInItsTenant: a refresh token presented again
// after it was spent (a theft, answered by revoking the user's sessions: a
// security event and a write) and one of the family that revoked are
// recorded in the user's tenant, naming the user, where the tenant's
// admins read the trail, as a refresh that works is; none of them is
// charged to nobody in tenant 0.
func TestRefusedRefreshAuditedInItsTenant(t *testing.T) {
	env := mysqlEnv(t)
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	rep := f.Reps[0]

	p := authLogin(t, s, *rep.Email, f.Password)
	authRefresh(t, s, p.RefreshToken).want(t, http.StatusOK, "")
	// The replay: the thief (or the victim) presents the spent token, then
	// again once its family is revoked.
	authRefresh(t, s, p.RefreshToken).want(t, http.StatusUnauthorized, "")
	authRefresh(t, s, p.RefreshToken).want(t, http.StatusUnauthorized, "")

	pid := s.Signal(syscall.SIGTERM)
	if !WaitGone(pid, 30*time.Second) {
		t.Fatal("the service did not stop")
	}
	inTenant := 0
	for _, r := range findAudit(auditRows(t, f.DB, f.Tenant.ID), "auth.refresh", "UNAUTHENTICATED") {
		if r.ActorKind == "user" && r.ActorID == rep.ID && r.TargetType == "user" && r.TargetID == itoa(rep.ID) && r.ClientAddr != "" {
			inTenant++
		}
	}
	for _, r := range findAudit(auditRows(t, f.DB, 0), "auth.refresh", "") {
		t.Errorf("a refresh recorded in tenant 0: %s %s %s:%d on %s:%q req=%s", r.Operation, r.Result, r.ActorKind, r.ActorID, r.TargetType, r.TargetID, r.RequestID)
	}
	if inTenant != 2 {
		t.Errorf("refused refreshes of user %d's token recorded in tenant %d naming the user: %d, want 2", rep.ID, f.Tenant.ID, inTenant)
	}
}
