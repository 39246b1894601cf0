package audit

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// registered is a multiTrail of the chains of tenants, each intact and
// sealed; the fakes' register holds 4, 5 and 6.
func registered(tenants ...int64) *multiTrail {
	chains := map[int64]*verifyTrail{}
	for _, tenant := range tenants {
		entries, head, _ := numbered(tenant, sample(3))
		chains[tenant] = &verifyTrail{ends: sealEnds(tenant, ChainEnds{Found: true, Anchor: Link{Hash: Genesis}, Head: head}), rows: entries}
	}
	return &multiTrail{chains: chains}
}

// A chain deleted whole, its records and its head, is no longer among the
// chains, but the register holds it: verify fails it, of every chain and
// with --tenant; a tenant that never had a chain passes.
func TestVerifyFindsARegisteredChainGone(t *testing.T) {
	ctx := context.Background()
	tr := registered(4, 6) // 5 deleted whole
	var ok []int64
	err := Verify(ctx, tr, testSealer, nil, func(r VerifyResult) { ok = append(ok, r.TenantID) })
	if b := brokenOf(err, 5); b == nil || !strings.Contains(err.Error(), "tenant 5: audit chain broken after seq 0: the chain begun at") ||
		!strings.Contains(err.Error(), "it was deleted whole") || !slices.Equal(ok, []int64{RegisterTenant, 4, 6}) {
		t.Fatalf("every chain: verified %v; %v", ok, err)
	}
	five, seven := int64(5), int64(7)
	if err := Verify(ctx, tr, testSealer, &five, nil); brokenOf(err, 5) == nil {
		t.Fatalf("--tenant 5: %v", err)
	}
	var got VerifyResult
	if err := Verify(ctx, tr, testSealer, &seven, func(r VerifyResult) { got = r }); err != nil || got.TenantID != 7 || got.String() != "tenant 7: no records, no head" {
		t.Fatalf("--tenant 7, which never had a chain: %q %v", got.String(), err)
	}
	if err := Verify(ctx, registered(4, 5, 6), testSealer, nil, nil); err != nil {
		t.Fatalf("every registered chain there: %v", err)
	}
	// --tenant -1 is the register alone.
	reg := RegisterTenant
	var regs []VerifyResult
	if err := Verify(ctx, tr, testSealer, &reg, func(r VerifyResult) { regs = append(regs, r) }); err != nil || len(regs) != 1 ||
		!strings.HasPrefix(regs[0].String(), "register of chains: 3 chains registered (seq 1 to 3)") {
		t.Fatalf("--tenant %d: %v %v", reg, regs, err)
	}
}

// A chain the register does not hold fails verify, and so does one it
// holds twice (deleted whole, then begun again by the service).
func TestVerifyChecksEachChainIsRegisteredOnce(t *testing.T) {
	ctx := context.Background()
	tr := registered(4, 5, 6, 8)
	if err := Verify(ctx, tr, testSealer, nil, nil); brokenOf(err, 8) == nil || !strings.Contains(err.Error(), "not in the register of chains") {
		t.Fatalf("a chain not registered: %v", err)
	}
	eight := int64(8)
	if err := Verify(ctx, tr, testSealer, &eight, nil); brokenOf(err, 8) == nil {
		t.Fatalf("--tenant 8, not registered: %v", err)
	}

	saved := testRegister
	defer func() { testRegister = saved }()
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var recs []Record
	for _, e := range saved.rows {
		recs = append(recs, e.Record)
	}
	recs = append(recs, RegisterRecord(5, OpChainBegin, at))
	rows, head := Chain(RegisterTenant, Link{Hash: Genesis}, recs)
	testRegister = &verifyTrail{ends: sealEnds(RegisterTenant, ChainEnds{Found: true, Anchor: Link{Hash: Genesis}, Head: head}), rows: rows}
	five := int64(5)
	for _, tenant := range []*int64{nil, &five} {
		if err := Verify(ctx, registered(4, 5, 6), testSealer, tenant, nil); brokenOf(err, 5) == nil || !strings.Contains(err.Error(), "begun again at 2026-12-02T09:00:00Z") {
			t.Fatalf("a chain registered twice (tenant %v): %v", tenant, err)
		}
	}
}
