package dao_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	auditlog "github.com/megaview/mgvcore/internal/logic/audit"
)

// verifyTenants runs audit verify (of tenant, or of every chain when nil)
// and returns the tenants of the chains that verified, and its error.
func verifyTenants(ctx context.Context, trail *dao.AuditLogs, tenant *int64) ([]int64, error) {
	var ok []int64
	err := auditlog.Verify(ctx, trail, chainSealer, tenant, func(r auditlog.VerifyResult) { ok = append(ok, r.TenantID) })
	return ok, err
}

// wipeChain is the tamper of someone who can write the database but does
// not hold audit.chain_key: a tenant's records and its head row deleted,
// two statements.
func wipeChain(t *testing.T, db *gorm.DB, tenant int64) {
	t.Helper()
	for _, q := range []string{"DELETE FROM audit_logs WHERE tenant_id = ?", "DELETE FROM audit_heads WHERE tenant_id = ?"} {
		if err := db.Exec(q, tenant).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuditVerifyFindsAChainDeletedWhole: a tenant's whole trail, its
// records and its head row, deleted without the key fails audit verify,
// of every chain and of that tenant's alone, while a tenant that never had
// a chain passes; when the service then writes to the tenant again, its
// chain begins again at seq 1, logged at error level, and verify goes on
// failing it.
func TestAuditVerifyFindsAChainDeletedWhole(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		var logs bytes.Buffer
		trail := dao.NewAuditLogs(db, chainSealer, zerolog.New(&logs))
		t0 := time.Now().Add(-time.Hour)
		var recs []auditlog.Record
		for i := range 10 {
			recs = append(recs, auditRecord(7, i, t0), auditRecord(8, i, t0))
		}
		if err := trail.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		seven, eight, nine := int64(7), int64(8), int64(9)
		if ok, err := verifyTenants(ctx, trail, nil); err != nil || !slices.Equal(ok, []int64{auditlog.RegisterTenant, 7, 8}) {
			t.Fatalf("before: %v %v", ok, err)
		}
		// A tenant without any activity has no chain, and passes.
		if _, err := verifyTenants(ctx, trail, &nine); err != nil {
			t.Fatalf("a tenant that never had a chain: %v", err)
		}

		wipeChain(t, db, 7)
		deleted := func(what string, err error) {
			t.Helper()
			var b *auditlog.Broken
			if !errors.As(err, &b) || b.TenantID != 7 || !strings.Contains(err.Error(), "deleted whole") {
				t.Fatalf("%s: %v, want tenant 7's chain reported deleted whole", what, err)
			}
		}
		ok, err := verifyTenants(ctx, trail, nil)
		deleted("every chain", err)
		if !slices.Equal(ok, []int64{auditlog.RegisterTenant, 8}) {
			t.Fatalf("chains that verified after tenant 7's was deleted: %v", ok)
		}
		_, err = verifyTenants(ctx, trail, &seven)
		deleted("--tenant 7", err)
		if _, err := verifyTenants(ctx, trail, &eight); err != nil {
			t.Fatalf("--tenant 8: %v", err)
		}
		if _, err := verifyTenants(ctx, trail, &nine); err != nil {
			t.Fatalf("--tenant 9: %v", err)
		}
		// audit seal neither seals nor registers it away.
		if err := auditlog.Seal(ctx, trail, chainSealer, nil, true, nil); err == nil || !strings.Contains(err.Error(), "deleted whole") {
			t.Fatalf("audit seal --force after the deletion: %v", err)
		}

		// The service writes to tenant 7 again: a new chain at seq 1.
		if err := trail.Append(ctx, []auditlog.Record{auditRecord(7, 20, time.Now())}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), `"level":"error","tenant":7,"message":"audit: a chain begins for a tenant whose chain the register of chains holds already`) {
			t.Fatalf("a chain begun again is not logged at error level:\n%s", logs.String())
		}
		again := func(what string, err error) {
			t.Helper()
			var b *auditlog.Broken
			if !errors.As(err, &b) || b.TenantID != 7 || !strings.Contains(err.Error(), "begun again") {
				t.Fatalf("%s: %v, want tenant 7's chain reported begun again", what, err)
			}
		}
		_, err = verifyTenants(ctx, trail, nil)
		again("every chain, after the chain began again", err)
		_, err = verifyTenants(ctx, trail, &seven)
		again("--tenant 7, after the chain began again", err)
		if err := auditlog.Seal(ctx, trail, chainSealer, &seven, true, nil); err == nil || !strings.Contains(err.Error(), "begun again") {
			t.Fatalf("audit seal --force of the chain begun again: %v", err)
		}
		_, err = verifyTenants(ctx, trail, &seven)
		again("--tenant 7, after audit seal --force", err)
	})
}

// TestAuditRegisterCannotBeEditedAway: hiding a chain deleted whole takes
// its record out of the register of chains, or the register deleted; each
// fails verify without the key.
func TestAuditRegisterCannotBeEditedAway(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		trail := dao.NewAuditLogs(db, chainSealer, zerolog.Nop())
		t0 := time.Now().Add(-time.Hour)
		for _, tenant := range []int64{3, 7, 8} { // three batches: three registrations, 7's in the middle
			if err := trail.Append(ctx, []auditlog.Record{auditRecord(tenant, 1, t0), auditRecord(tenant, 2, t0)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := verifyTenants(ctx, trail, nil); err != nil {
			t.Fatal(err)
		}
		wipeChain(t, db, 7)
		// Its registration deleted too: the register's chain breaks.
		if err := db.Exec("DELETE FROM audit_logs WHERE tenant_id = ? AND target_id = '7'", auditlog.RegisterTenant).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := verifyTenants(ctx, trail, nil); err == nil || !strings.Contains(err.Error(), "register of chains: audit record") {
			t.Fatalf("a registration deleted: %v", err)
		}
		// The register's records rewritten without it, the head moved to
		// match: the seal does not.
		regs, err := trail.Entries(ctx, auditlog.RegisterTenant, 0, 10)
		if err != nil || len(regs) != 2 {
			t.Fatalf("register: %d %v", len(regs), err)
		}
		prev := auditlog.Link{Seq: regs[0].Seq, Hash: regs[0].Hash}
		r := regs[1].Record
		hash := auditlog.Hash(prev.Hash, auditlog.RegisterTenant, 2, r)
		if err := db.Exec("UPDATE audit_logs SET seq = 2, prev_hash = ?, hash = ? WHERE id = ?", prev.Hash, hash, regs[1].ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("UPDATE audit_heads SET seq = 2, hash = ? WHERE tenant_id = ?", hash, auditlog.RegisterTenant).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := verifyTenants(ctx, trail, nil); err == nil || !strings.Contains(err.Error(), "register of chains: audit chain broken after seq 2: "+auditlog.ErrSealMismatch.Error()) {
			t.Fatalf("the register rewritten without a registration: %v", err)
		}
		// The register deleted whole: the chains left are not registered.
		wipeChain(t, db, auditlog.RegisterTenant)
		ok, err := verifyTenants(ctx, trail, nil)
		var b *auditlog.Broken
		if !errors.As(err, &b) || b.TenantID != 3 || !strings.Contains(err.Error(), "not in the register of chains, and there is no register") || len(ok) != 0 {
			t.Fatalf("the register deleted: %v %v", ok, err)
		}
	})
}

// TestAuditSealRegistersChainsWrittenBeforeTheRegister: chains without a
// registration (written before the register was kept) fail verify;
// audit seal lists them and, with force, registers those that verify, and
// the register is sealed with them; trimming then leaves the register
// alone and keeps every chain verifying, a chain trimmed to nothing too.
func TestAuditSealRegistersChainsWrittenBeforeTheRegister(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		trail := dao.NewAuditLogs(db, chainSealer, zerolog.Nop())
		old := time.Now().Add(-48 * time.Hour)
		if err := trail.Append(ctx, []auditlog.Record{auditRecord(0, 1, old), auditRecord(1, 1, old), auditRecord(1, 2, old), auditRecord(2, 1, old)}); err != nil {
			t.Fatal(err)
		}
		// As an earlier version left them: no register.
		wipeChain(t, db, auditlog.RegisterTenant)
		if _, err := verifyTenants(ctx, trail, nil); err == nil || !strings.Contains(err.Error(), "there is no register") {
			t.Fatalf("chains without a register: %v", err)
		}
		seal := func(force bool) (unregistered, registered []int64, err error) {
			err = auditlog.Seal(ctx, trail, chainSealer, nil, force, func(r auditlog.SealResult) {
				if r.Unregistered {
					unregistered = append(unregistered, r.TenantID)
				}
				if r.Registered {
					registered = append(registered, r.TenantID)
				}
			})
			return unregistered, registered, err
		}
		if u, r, err := seal(false); err != nil || !slices.Equal(u, []int64{0, 1, 2}) || len(r) != 0 {
			t.Fatalf("audit seal: unregistered %v, registered %v, %v", u, r, err)
		}
		if u, r, err := seal(true); err != nil || !slices.Equal(u, []int64{0, 1, 2}) || !slices.Equal(r, []int64{0, 1, 2}) {
			t.Fatalf("audit seal --force: unregistered %v, registered %v, %v", u, r, err)
		}
		if ok, err := verifyTenants(ctx, trail, nil); err != nil || !slices.Equal(ok, []int64{auditlog.RegisterTenant, 0, 1, 2}) {
			t.Fatalf("after audit seal --force: %v %v", ok, err)
		}
		if u, r, err := seal(true); err != nil || len(u) != 0 || len(r) != 0 {
			t.Fatalf("audit seal --force again: unregistered %v, registered %v, %v", u, r, err)
		}

		// Trimming past the retention: every chain trimmed to nothing,
		// the register (not a tenant of the trail) left whole.
		if tenants, err := trail.Tenants(ctx); err != nil || !slices.Equal(tenants, []int64{0, 1, 2}) {
			t.Fatalf("tenants of the trail: %v %v", tenants, err)
		}
		if n, err := auditlog.NewTrimmer(trail, zerolog.Nop(), auditlog.TrimOptions{Retention: 24 * time.Hour, Batch: 100, Batches: 1}).Round(ctx); err != nil || n != 4 {
			t.Fatalf("trim round: %d %v", n, err)
		}
		if regs, err := trail.Entries(ctx, auditlog.RegisterTenant, 0, 10); err != nil || len(regs) != 3 {
			t.Fatalf("register after the trim: %d %v", len(regs), err)
		}
		if ok, err := verifyTenants(ctx, trail, nil); err != nil || !slices.Equal(ok, []int64{auditlog.RegisterTenant, 0, 1, 2}) {
			t.Fatalf("after the trim: %v %v", ok, err)
		}
		one := int64(1)
		if ok, err := verifyTenants(ctx, trail, &one); err != nil || !slices.Equal(ok, []int64{auditlog.RegisterTenant, 1}) {
			t.Fatalf("--tenant 1 after the trim: %v %v", ok, err)
		}
		// A chain trimmed to nothing, then deleted whole, is still found.
		wipeChain(t, db, 2)
		if _, err := verifyTenants(ctx, trail, nil); err == nil || !strings.Contains(err.Error(), "tenant 2: audit chain broken after seq 0: the chain begun at") {
			t.Fatalf("a trimmed chain deleted whole: %v", err)
		}
	})
}

// A tenant's chain deleted together with the register of chains (four
// DELETEs, no key) fails `audit verify --tenant` of that tenant too: the
// register then does not hold the chains that exist, so it cannot vouch
// that the tenant never had one; nor once the service has begun a new
// register with the next new tenant's first record.
func TestAuditVerifyOfATenantFailsWhenTheRegisterIsDeletedToo(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		trail := dao.NewAuditLogs(db, chainSealer, zerolog.Nop())
		appendSevenAndEight(ctx, t, trail)
		seven, nine := int64(7), int64(9)
		if _, err := verifyTenants(ctx, trail, &seven); err != nil {
			t.Fatalf("before: %v", err)
		}
		wipeChain(t, db, 7)
		wipeChain(t, db, auditlog.RegisterTenant)
		if _, err := verifyTenants(ctx, trail, nil); err == nil {
			t.Fatal("every chain: passes with the register gone")
		}
		if _, err := verifyTenants(ctx, trail, &seven); err == nil {
			t.Error("audit verify --tenant 7 passes after tenant 7's chain and the register were deleted")
		}
		if err := trail.Append(ctx, []auditlog.Record{auditRecord(9, 1, time.Now())}); err != nil {
			t.Fatal(err)
		}
		if _, err := verifyTenants(ctx, trail, &seven); err == nil {
			t.Error("audit verify --tenant 7 passes once the service began a new register")
		}
		// The new tenant's own chain is whole, but the register still
		// cannot vouch for the others.
		if _, err := verifyTenants(ctx, trail, &nine); err == nil {
			t.Error("audit verify --tenant 9 passes with chains the register does not hold")
		}
	})
}

// newTenantDuringVerify is the trail while a new tenant writes its first
// record (its chain and its registration, in one transaction) just as
// `audit verify --tenant` reads the chains that exist.
type newTenantDuringVerify struct {
	*dao.AuditLogs
	t    *testing.T
	done bool
}

func (n *newTenantDuringVerify) Tenants(ctx context.Context) ([]int64, error) {
	if !n.done {
		n.done = true
		if err := n.Append(context.Background(), []auditlog.Record{auditRecord(9, 1, time.Now())}); err != nil {
			n.t.Fatal(err)
		}
	}
	return n.AuditLogs.Tenants(ctx)
}

// A healthy trail: verify of tenant 7 passes whatever tenant begins its
// chain meanwhile (the chains that exist are read in the register's
// snapshot).
func TestAuditVerifyOfATenantPassesWhileAnotherBeginsItsChain(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		trail := dao.NewAuditLogs(db, chainSealer, zerolog.Nop())
		appendSevenAndEight(ctx, t, trail)
		seven := int64(7)
		racing := &newTenantDuringVerify{AuditLogs: trail, t: t}
		if err := auditlog.Verify(ctx, racing, chainSealer, &seven, nil); err != nil {
			t.Fatalf("audit verify --tenant 7 of a whole trail, while tenant 9 began its chain: %v", err)
		}
		if _, err := verifyTenants(ctx, trail, nil); err != nil {
			t.Fatalf("every chain afterwards: %v", err)
		}
	})
}

// appendSevenAndEight writes five records to the chains of tenants 7 and 8.
func appendSevenAndEight(ctx context.Context, t *testing.T, trail *dao.AuditLogs) {
	t.Helper()
	t0 := time.Now().Add(-time.Hour)
	var recs []auditlog.Record
	for i := range 5 {
		recs = append(recs, auditRecord(7, i, t0), auditRecord(8, i, t0))
	}
	if err := trail.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
}
