//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/polltest"
)

// TestAuditVerifyCannotBeBlinded: on MariaDB, editing the head row or
// adding rows outside the range between the anchor and the head no longer
// hides tampering from `audit verify`: each case fails naming the record.
// Neither do records rewritten with their head, nor the newest records
// deleted with the head lowered to match, nor the seal removed: the ends
// do not carry the seal that only a holder of audit.chain_key can make.
// What the database alone cannot show (the ends put back as they were
// earlier, with the seal they had then) passes, but states the head it
// trusted.
func TestAuditVerifyCannotBeBlinded(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	for range 16 {
		apiGet(t, s, "/api/v1/audit-logs?page_size=1", admin).want(t, 200, "")
	}
	// The head as it stands now, with its seal, as someone who can read
	// the database could keep it.
	type headRow struct {
		Seq      int64
		Hash     string
		Seal     string
		SealedAt time.Time
	}
	var earlier headRow
	polltest.Until(t, 10*time.Second, 20*time.Millisecond, "the first 16 records written", func() bool {
		return f.DB.Raw("SELECT seq, hash, seal, sealed_at FROM audit_heads WHERE tenant_id = ?", f.Tenant.ID).Scan(&earlier).Error == nil && earlier.Seq >= 16
	})
	for range 16 {
		apiGet(t, s, "/api/v1/audit-logs?page_size=1", admin).want(t, 200, "")
	}
	if !WaitGone(s.Signal(syscall.SIGTERM), 30*time.Second) {
		t.Fatal("the service did not stop")
	}
	rows := auditRows(t, f.DB, f.Tenant.ID)
	if len(rows) < 32 {
		t.Fatalf("%d records, want at least 32", len(rows))
	}
	tenant := fmt.Sprint(f.Tenant.ID)
	exec := func(sql string, args ...any) {
		t.Helper()
		if err := f.DB.Exec(sql, args...).Error; err != nil {
			t.Fatal(err)
		}
	}
	// inserted adds a row with no valid hash at seq and returns its id.
	inserted := func(seq int64) int64 {
		t.Helper()
		exec("INSERT INTO audit_logs (tenant_id, seq, occurred_at, operation) VALUES (?, ?, ?, 'forged')", f.Tenant.ID, seq, time.Now().UTC())
		var id int64
		if err := f.DB.Raw("SELECT id FROM audit_logs WHERE tenant_id = ? AND seq = ?", f.Tenant.ID, seq).Scan(&id).Error; err != nil || id == 0 {
			t.Fatalf("inserted row: %v", err)
		}
		return id
	}
	setHead := func(e audit.Entry) {
		exec("UPDATE audit_heads SET seq = ?, hash = ? WHERE tenant_id = ?", e.Seq, e.Hash, f.Tenant.ID)
	}
	last := rows[len(rows)-1]
	exec("CREATE TABLE audit_logs_saved AS SELECT * FROM audit_logs WHERE tenant_id = ?", f.Tenant.ID)
	exec("CREATE TABLE audit_heads_saved AS SELECT * FROM audit_heads WHERE tenant_id = ?", f.Tenant.ID)
	restore := func() {
		exec("DELETE FROM audit_logs WHERE tenant_id = ?", f.Tenant.ID)
		exec("INSERT INTO audit_logs SELECT * FROM audit_logs_saved")
		exec("DELETE FROM audit_heads WHERE tenant_id = ?", f.Tenant.ID)
		exec("INSERT INTO audit_heads SELECT * FROM audit_heads_saved")
	}
	cases := []struct {
		name   string
		tamper func() int64
		want   string
	}{
		{"head row deleted and a record edited", func() int64 {
			exec("DELETE FROM audit_heads WHERE tenant_id = ?", f.Tenant.ID)
			exec("UPDATE audit_logs SET result = 'edited' WHERE id = ?", rows[9].ID)
			return rows[0].ID
		}, "no head in audit_heads"},
		{"head lowered to seq 5 and seq 20 edited", func() int64 {
			setHead(rows[4])
			exec("UPDATE audit_logs SET result = 'edited' WHERE id = ?", rows[19].ID)
			return rows[5].ID
		}, "beyond the chain's head (seq 5)"},
		{"row at seq 0", func() int64 { return inserted(0) }, "at or below the trim anchor (seq 0)"},
		{"row at a negative seq", func() int64 { return inserted(-7) }, "at or below the trim anchor (seq 0)"},
		{"row beyond the head", func() int64 { return inserted(last.Seq + 1) }, fmt.Sprintf("beyond the chain's head (seq %d)", last.Seq)},
		{"anchor moved over records still present", func() int64 {
			exec("UPDATE audit_heads SET anchor_seq = ?, anchor_hash = ? WHERE tenant_id = ?", rows[19].Seq, rows[19].Hash, f.Tenant.ID)
			return rows[0].ID
		}, fmt.Sprintf("at or below the trim anchor (seq %d)", rows[19].Seq)},
	}
	for _, tc := range cases {
		id := tc.tamper()
		out, ok := auditVerify(t, s, "--tenant", tenant)
		want := fmt.Sprintf("tenant %s: audit record id %d ", tenant, id)
		if ok || !strings.Contains(out, want) || !strings.Contains(out, tc.want) {
			t.Errorf("%s: verify passed=%v, want it to fail naming %q and %q:\n%s", tc.name, ok, want, tc.want, out)
		}
		t.Logf("%s: %s", tc.name, strings.TrimSpace(out))
		// Every chain, too.
		if out, ok := auditVerify(t, s); ok {
			t.Errorf("%s: verify of every chain passed:\n%s", tc.name, out)
		}
		restore()
		if out, ok := auditVerify(t, s, "--tenant", tenant); !ok {
			t.Fatalf("after restoring from %s:\n%s", tc.name, out)
		}
	}

	// What every hash links through: the chain's ends no longer carry
	// their seal.
	sealCases := []struct {
		name   string
		tamper func()
		want   string
	}{
		{"newest three deleted, head lowered to match", func() {
			exec("DELETE FROM audit_logs WHERE tenant_id = ? AND seq > ?", f.Tenant.ID, last.Seq-3)
			setHead(rows[len(rows)-4])
		}, audit.ErrSealMismatch.Error()},
		{"record 10 edited, the hashes from it computed again, the head moved to match", func() {
			prev := rows[8].Hash
			for _, e := range rows[9:] {
				r := e.Record
				if e.Seq == rows[9].Seq {
					r.Result = "PERMISSION_DENIED"
				}
				hash := audit.Hash(prev, f.Tenant.ID, e.Seq, r)
				exec("UPDATE audit_logs SET result = ?, prev_hash = ?, hash = ? WHERE id = ?", r.Result, prev, hash, e.ID)
				prev = hash
			}
			exec("UPDATE audit_heads SET hash = ? WHERE tenant_id = ?", prev, f.Tenant.ID)
		}, audit.ErrSealMismatch.Error()},
		{"seal removed", func() { exec("UPDATE audit_heads SET seal = '' WHERE tenant_id = ?", f.Tenant.ID) }, audit.ErrUnsealed.Error()},
	}
	for _, tc := range sealCases {
		tc.tamper()
		out, ok := auditVerify(t, s, "--tenant", tenant)
		if ok || !strings.Contains(out, fmt.Sprintf("tenant %s: audit chain broken after seq ", tenant)) || !strings.Contains(out, tc.want) {
			t.Errorf("%s: verify passed=%v, want it to fail: %q:\n%s", tc.name, ok, tc.want, out)
		}
		t.Logf("%s: %s", tc.name, strings.TrimSpace(out))
		restore()
		if out, ok := auditVerify(t, s, "--tenant", tenant); !ok {
			t.Fatalf("after restoring from %s:\n%s", tc.name, out)
		}
	}

	// The records after the earlier head deleted and the head put back as
	// it was, with its seal: the chain that is left is whole and sealed,
	// so verify passes, but it states the head it trusted, for comparison
	// with a copy kept elsewhere.
	exec("DELETE FROM audit_logs WHERE tenant_id = ? AND seq > ?", f.Tenant.ID, earlier.Seq)
	exec("UPDATE audit_heads SET seq = ?, hash = ?, seal = ?, sealed_at = ? WHERE tenant_id = ?", earlier.Seq, earlier.Hash, earlier.Seal, earlier.SealedAt, f.Tenant.ID)
	out, ok := auditVerify(t, s, "--tenant", tenant)
	if want := fmt.Sprintf("trusted head seq %d hash %s moved at ", earlier.Seq, earlier.Hash); !ok || !strings.Contains(out, want) {
		t.Errorf("tail cut with its earlier head and seal: verify passed=%v, want it to state %q:\n%s", ok, want, out)
	}
	t.Logf("tail cut with its earlier head and seal: %s", strings.TrimSpace(out))
}

// TestAuditTakenPositionHoldsBackNoTenant: a row inserted at the next seq
// of one tenant's chain makes that tenant's appends fail; the other
// tenants' records are still written, promptly, and the failure is logged
// naming the tenant and the seq, and counted.
func TestAuditTakenPositionHoldsBackNoTenant(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	apiGet(t, s, "/api/v1/audit-logs?page_size=1", admin).want(t, 200, "")
	var head int64
	deadline := time.Now().Add(10 * time.Second)
	for head == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if err := f.DB.Raw("SELECT COALESCE(MAX(seq), 0) FROM audit_heads WHERE tenant_id = ?", f.Tenant.ID).Scan(&head).Error; err != nil {
			t.Fatal(err)
		}
	}
	if head == 0 {
		t.Fatal("no record of the tenant was written")
	}
	// Let the writer take every record queued so far first.
	time.Sleep(500 * time.Millisecond)
	if err := f.DB.Raw("SELECT seq FROM audit_heads WHERE tenant_id = ?", f.Tenant.ID).Scan(&head).Error; err != nil {
		t.Fatal(err)
	}
	if err := f.DB.Exec("INSERT INTO audit_logs (tenant_id, seq, occurred_at, operation) VALUES (?, ?, ?, 'forged')", f.Tenant.ID, head+1, time.Now().UTC()).Error; err != nil {
		t.Fatal(err)
	}
	// Records of the tenant and of tenant 0 (sign-ins with unknown
	// accounts), in the same batches.
	before := len(auditRows(t, f.DB, 0))
	for i := range 3 {
		apiGet(t, s, "/api/v1/audit-logs?page_size=1", admin).want(t, 200, "")
		authCall(t, s, "POST", "/api/v1/auth/login", "", map[string]string{"account": fmt.Sprintf("nobody-%d@example.com", i), "password": "wrong"})
	}
	deadline = time.Now().Add(10 * time.Second)
	for len(auditRows(t, f.DB, 0)) < before+3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(auditRows(t, f.DB, 0)) - before; n < 3 {
		t.Fatalf("%d of tenant 0's 3 records written while tenant %d's chain position is taken", n, f.Tenant.ID)
	}
	if got := metric(t, s, "mgv_audit_append_failures_total"); got < 1 {
		t.Errorf("mgv_audit_append_failures_total %v", got)
	}
	logs := s.Stderr.String() + s.Stdout.String()
	if !strings.Contains(logs, "holds the tenant's next chain position") || !strings.Contains(logs, fmt.Sprintf(`"seq":%d`, head+1)) {
		t.Errorf("no error naming the tenant and seq %d in the log:\n%s", head+1, grepLines(logs, "{"))
	}
	if out, ok := auditVerify(t, s, "--tenant", fmt.Sprint(f.Tenant.ID)); ok || !strings.Contains(out, "beyond the chain's head") {
		t.Errorf("verify with the forged row: passed=%v\n%s", ok, out)
	}
}

// TestAuditVerifyFindsARowSharingASeq: on MariaDB, with the unique key on
// (tenant_id, seq) dropped, a forged record written at the seq of the last
// row of `audit verify`'s first page, hashed onto the record before it,
// is read and named: sharing its seq with a genuine record does not hide it.
func TestAuditVerifyFindsARowSharingASeq(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	// More records than one page of verify's reading, written by the
	// service's own store.
	store := dao.NewAuditLogs(f.DB, testChainSealer, zerolog.Nop())
	t0 := time.Now().UTC()
	for b := range 6 {
		recs := make([]audit.Record, 200)
		for i := range recs {
			recs[i] = audit.Normalize(audit.Record{TenantID: f.Tenant.ID, ActorKind: audit.ActorUser, ActorID: f.Admin.ID,
				Operation: "search", RequestID: fmt.Sprintf("r-%d-%d", b, i)}, t0)
		}
		if err := store.Append(t.Context(), recs); err != nil {
			t.Fatal(err)
		}
	}
	tenant := fmt.Sprint(f.Tenant.ID)
	if out, ok := auditVerify(t, s, "--tenant", tenant); !ok {
		t.Fatalf("intact chain:\n%s", out)
	}
	rows := auditRows(t, f.DB, f.Tenant.ID)
	at := rows[999] // the last row of verify's first page
	if err := f.DB.Exec("ALTER TABLE audit_logs DROP INDEX uniq_audit_logs_seq").Error; err != nil {
		t.Fatal(err)
	}
	forged := at.Record
	forged.Operation, forged.TargetType, forged.TargetID = "conversation.delete", "conversation", "42"
	if err := f.DB.Exec("INSERT INTO audit_logs (tenant_id, seq, occurred_at, actor_kind, actor_id, client_addr, operation, target_type, target_id, result, request_id, prev_hash, hash) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", f.Tenant.ID, at.Seq, forged.Time, forged.ActorKind, forged.ActorID, forged.ClientAddr,
		forged.Operation, forged.TargetType, forged.TargetID, forged.Result, forged.RequestID, at.PrevHash,
		audit.Hash(at.PrevHash, f.Tenant.ID, at.Seq, forged)).Error; err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := f.DB.Raw("SELECT MAX(id) FROM audit_logs WHERE tenant_id = ? AND seq = ?", f.Tenant.ID, at.Seq).Scan(&id).Error; err != nil || id == at.ID {
		t.Fatalf("forged row: id %d, %v", id, err)
	}
	// Without the key, the two rows at the seq come in any order: the one
	// read second is named, the forged one or the genuine one.
	for _, args := range [][]string{{"--tenant", tenant}, nil} {
		out, ok := auditVerify(t, s, args...)
		named := false
		for _, row := range []int64{id, at.ID} {
			named = named || strings.Contains(out, fmt.Sprintf("tenant %s: audit record id %d (seq %d): ", tenant, row, at.Seq))
		}
		if ok || !named {
			t.Errorf("verify %v passed=%v, want it to fail naming record id %d or %d at seq %d:\n%s", args, ok, id, at.ID, at.Seq, out)
		}
		t.Log(strings.TrimSpace(out))
	}
}

// TestAuditSealAfterAKeyChange: on MariaDB, a service restarted with
// another audit.chain_key keeps writing records and logs once that the
// chain's ends do not carry their seal; `audit verify` fails saying so.
// `audit seal` lists such a chain and exits 1 without --force, and with
// it, run while the service writes, verifies the chain and seals it under
// the new key, which the old key then does not verify. A seal removed stays
// removed through a restart and appends, until `audit seal --force` puts
// it back.
func TestAuditSealAfterAKeyChange(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	admin := f.Token(t, f.Admin)
	tenant := fmt.Sprint(f.Tenant.ID)
	calls := func(n int) {
		t.Helper()
		for range n {
			apiGet(t, s, "/api/v1/audit-logs?page_size=1", admin).want(t, 200, "")
		}
	}
	stop := func() {
		t.Helper()
		if !WaitGone(s.Signal(syscall.SIGTERM), 30*time.Second) {
			t.Fatal("the service did not stop")
		}
	}
	verify := func(want string) {
		t.Helper()
		out, ok := auditVerify(t, s, "--tenant", tenant)
		if pass := strings.HasPrefix(want, "ok: "); pass != ok || !strings.Contains(out, want) {
			t.Fatalf("verify passed=%v, want it to say %q:\n%s", ok, want, out)
		}
	}
	s.Start()
	calls(5)
	stop()
	verify("ok: 1 chains")

	newKey := "e2e-new-chain-key-" + strings.Repeat("k7Q-", 8)
	s.Env["MGV_AUDIT_CHAIN_KEY"] = newKey
	s.Start()
	calls(5)
	polltest.Until(t, 10*time.Second, 20*time.Millisecond, "the mismatch logged", func() bool {
		return strings.Contains(s.Stderr.String(), "do not carry their seal")
	})
	verify(audit.ErrSealMismatch.Error())
	if out, err := s.Command("audit", "seal", "--tenant", tenant).CombinedOutput(); err == nil || !strings.Contains(string(out), "NOT sealed") {
		t.Fatalf("audit seal of a mismatched chain without --force: %v\n%s", err, out)
	}

	// audit seal while the service writes records.
	done, writing := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			select {
			case <-done:
				writing <- nil
				return
			default:
			}
			if r, err := tryCall(s, "GET", "/api/v1/audit-logs?page_size=1", admin, nil); err != nil || r.Status != 200 {
				writing <- fmt.Errorf("a call while sealing: %+v %v", r, err)
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	out, err := s.Command("audit", "seal", "--tenant", tenant, "--force").CombinedOutput()
	time.Sleep(300 * time.Millisecond)
	close(done)
	if err := <-writing; err != nil {
		t.Fatal(err)
	}
	if err != nil || !strings.Contains(string(out), "1 chains sealed") || !strings.Contains(string(out), "sealed (was: the chain's ends do not match their seal)") {
		t.Fatalf("audit seal: %v\n%s", err, out)
	}
	calls(3)
	stop()
	verify("ok: 1 chains")
	delete(s.Env, "MGV_AUDIT_CHAIN_KEY")
	verify(audit.ErrSealMismatch.Error())
	s.Env["MGV_AUDIT_CHAIN_KEY"] = newKey

	// A seal removed fails verify, through a restart and appends, until
	// audit seal verifies the chain and puts it back.
	if err := f.DB.Exec("UPDATE audit_heads SET seal = '' WHERE tenant_id = ?", f.Tenant.ID).Error; err != nil {
		t.Fatal(err)
	}
	verify(audit.ErrUnsealed.Error())
	s.Start()
	calls(3)
	stop()
	verify(audit.ErrUnsealed.Error())
	if out, err := s.Command("audit", "seal", "--tenant", tenant).CombinedOutput(); err == nil || !strings.Contains(string(out), "NOT sealed (the chain's ends are not sealed") {
		t.Fatalf("audit seal of an unsealed chain without --force: %v\n%s", err, out)
	}
	verify(audit.ErrUnsealed.Error())
	if out, err := s.Command("audit", "seal", "--tenant", tenant, "--force").CombinedOutput(); err != nil || !strings.Contains(string(out), "sealed (was: the chain's ends are not sealed)") {
		t.Fatalf("audit seal --force of an unsealed chain: %v\n%s", err, out)
	}
	verify("ok: 1 chains")
}
