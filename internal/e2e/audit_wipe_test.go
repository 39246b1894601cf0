//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/polltest"
)

// TestAuditVerifyFindsATenantsTrailDeletedWhole: on MariaDB, someone who
// can write the database but does not hold audit.chain_key deletes a
// tenant's whole trail, its records and its head row. `mgvcore audit
// verify` fails, of every chain and with --tenant, naming the tenant; a
// tenant that never had any activity still passes. When the service then
// writes to the tenant again, its chain begins again at seq 1, logged at
// error level, and verify goes on failing the tenant.
func TestAuditVerifyFindsATenantsTrailDeletedWhole(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	tenant := fmt.Sprint(f.Tenant.ID)
	s.Start()
	admin := f.Token(t, f.Admin)
	for range 5 {
		apiGet(t, s, "/api/v1/audit-logs?page_size=1", admin).want(t, 200, "")
	}
	if !WaitGone(s.Signal(syscall.SIGTERM), 30*time.Second) {
		t.Fatal("the service did not stop")
	}
	if n := len(auditRows(t, f.DB, f.Tenant.ID)); n < 5 {
		t.Fatalf("%d records of tenant %s, want at least 5", n, tenant)
	}
	if out, ok := auditVerify(t, s); !ok || !strings.Contains(out, "register of chains: ") {
		t.Fatalf("verify before the deletion:\n%s", out)
	}
	idle := fmt.Sprint(f.Tenant.ID + 1000) // a tenant that never had a chain
	if out, ok := auditVerify(t, s, "--tenant", idle); !ok || !strings.Contains(out, "tenant "+idle+": no records, no head") {
		t.Fatalf("verify of a tenant without activity:\n%s", out)
	}

	for _, q := range []string{"DELETE FROM audit_logs WHERE tenant_id = ?", "DELETE FROM audit_heads WHERE tenant_id = ?"} {
		if err := f.DB.Exec(q, f.Tenant.ID).Error; err != nil {
			t.Fatal(err)
		}
	}
	want := fmt.Sprintf("tenant %s: audit chain broken after seq 0: the chain begun at ", tenant)
	for _, args := range [][]string{nil, {"--tenant", tenant}} {
		out, ok := auditVerify(t, s, args...)
		if ok || !strings.Contains(out, want) || !strings.Contains(out, "it was deleted whole") {
			t.Errorf("verify %v after tenant %s's trail was deleted: passed=%v, want it to fail with %q:\n%s", args, tenant, ok, want, out)
		}
		t.Logf("verify %v: %s", args, strings.TrimSpace(out))
	}
	if out, ok := auditVerify(t, s, "--tenant", idle); !ok {
		t.Errorf("verify of a tenant without activity, after the deletion:\n%s", out)
	}

	// The service writes to the tenant again: a new chain at seq 1.
	s.Start()
	apiGet(t, s, "/api/v1/audit-logs?page_size=1", admin).want(t, 200, "")
	polltest.Until(t, 10*time.Second, 20*time.Millisecond, "the chain begun again logged", func() bool {
		return strings.Contains(s.Stderr.String()+s.Stdout.String(), "a chain begins for a tenant whose chain the register of chains holds already")
	})
	if !WaitGone(s.Signal(syscall.SIGTERM), 30*time.Second) {
		t.Fatal("the service did not stop")
	}
	var logs string
	for _, l := range strings.Split(s.Stderr.String()+s.Stdout.String(), "\n") {
		if strings.Contains(l, "register of chains holds already") {
			logs += l + "\n"
		}
	}
	if !strings.Contains(logs, `"level":"error"`) || !strings.Contains(logs, fmt.Sprintf(`"tenant":%s`, tenant)) {
		t.Errorf("the chain begun again is not logged at error level naming tenant %s:\n%s", tenant, logs)
	}
	for _, args := range [][]string{nil, {"--tenant", tenant}} {
		out, ok := auditVerify(t, s, args...)
		if ok || !strings.Contains(out, fmt.Sprintf("tenant %s: audit chain broken after seq 0: the chain was begun again at ", tenant)) {
			t.Errorf("verify %v after the chain began again: passed=%v:\n%s", args, ok, out)
		}
	}
}

// TestAuditSealRegistersChainsOfAnEarlierVersion: on MariaDB, chains an
// earlier version wrote, without the register of chains, fail `audit
// verify`; `audit seal` lists them and exits 1, and `audit seal --force`
// registers them, after which verify passes.
func TestAuditSealRegistersChainsOfAnEarlierVersion(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	tenant := fmt.Sprint(f.Tenant.ID)
	s.Start()
	admin := f.Token(t, f.Admin)
	for range 3 {
		apiGet(t, s, "/api/v1/audit-logs?page_size=1", admin).want(t, 200, "")
	}
	if !WaitGone(s.Signal(syscall.SIGTERM), 30*time.Second) {
		t.Fatal("the service did not stop")
	}
	// As an earlier version left the trail: no register.
	for _, q := range []string{"DELETE FROM audit_logs WHERE tenant_id = -1", "DELETE FROM audit_heads WHERE tenant_id = -1"} {
		if err := f.DB.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	unregistered := fmt.Sprintf("tenant %s: audit chain broken after seq ", tenant)
	if out, ok := auditVerify(t, s); ok || !strings.Contains(out, unregistered) || !strings.Contains(out, "not in the register of chains, and there is no register") {
		t.Fatalf("verify of chains without the register: passed=%v:\n%s", ok, out)
	}
	out, err := s.Command("audit", "seal").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "NOT in the register of chains (--force registers it)") {
		t.Fatalf("audit seal without --force: %v\n%s", err, out)
	}
	out, err = s.Command("audit", "seal", "--force").CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("tenant %s: ", tenant)) || !strings.Contains(string(out), "entered in the register of chains") {
		t.Fatalf("audit seal --force: %v\n%s", err, out)
	}
	if out, ok := auditVerify(t, s); !ok || !strings.Contains(out, "register of chains: ") || !strings.Contains(out, "ok: ") {
		t.Fatalf("verify after audit seal --force: passed=%v:\n%s", ok, out)
	}
}
