package audit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// The register of chains. A chain's seal covers its ends, not its being
// there: a tenant's records and its head row deleted together (two
// DELETEs, no key) left nothing for Verify to check, and the next record
// began a new chain at seq 1. So every chain, when it begins, is also
// entered in a register, itself a chain of its own kept in the same tables
// under the reserved tenant RegisterTenant, hash-chained and sealed like
// any other: one record per chain, naming its tenant, written in the
// transaction that creates the chain's head row. Verify reads the register
// and fails a registered tenant with no chain, a chain begun twice (its
// first one deleted whole, then the service wrote to the tenant again), and
// a chain that is not registered; whoever would hide a chain deleted whole
// must take its record out of the register, and the register's new ends
// need a seal only the key makes.
//
// Why a register and not the tenants table: a register covers tenant 0
// (sign-ins of unknown accounts), which has no tenant row, needs no
// migration and no writes outside the audit tables, and cannot be evaded by
// deleting the tenant row with its chain. Why a chain of records and not a
// sealed digest of the set: the records say which tenant is missing, so
// `audit verify --tenant` can tell a chain deleted whole from a tenant that
// never had one, and the register reuses the chain's verification, seal,
// snapshot and locking as they are. It is never trimmed (one small record
// per chain), so a chain trimmed to nothing (its head kept, with the anchor)
// still has its registration.
//
// What the register cannot show is what a seal cannot: its ends put back
// as they were earlier with the seal they had then (from a copy of the rows
// taken before the deleted chain began), or both tables emptied of every
// chain and the register. Verify states the register's ends with the
// chains', and the trimmer logs them each round, to compare with.
const RegisterTenant int64 = -1

// Operations of the register's records.
const (
	// OpChainBegin registers a chain as its first record is written.
	OpChainBegin = "audit.chain.begin"
	// OpChainRegister registers a chain written before the register was
	// kept (or after it was lost), by `audit seal --force`.
	OpChainRegister = "audit.chain.register"
	// TargetChain is the target type of the register's records; their
	// target id is the chain's tenant.
	TargetChain = "audit_chain"
)

// RegisterRecord is the register's record of tenant's chain, op being
// OpChainBegin or OpChainRegister.
func RegisterRecord(tenant int64, op string, now time.Time) Record {
	return Normalize(Record{Time: now, TenantID: RegisterTenant, ActorKind: ActorSystem, Operation: op,
		TargetType: TargetChain, TargetID: strconv.FormatInt(tenant, 10)}, now)
}

// registry is the register of chains as Verify and Seal read it, with the
// tenants that had a chain (a head or records) in the same snapshot.
type registry struct {
	// result is the register's own chain, as verified.
	result VerifyResult
	// broken is why the register itself cannot be trusted (its chain or
	// its seal): the tenants' registrations are then not checked.
	broken error
	// begun holds each registered tenant's registrations, in order.
	begun map[int64][]Entry
	// tenants are those with a head or a record when the register was
	// read, and those registered, in order.
	tenants []int64
	// had are the tenants with a head or records when it was read.
	had map[int64]bool
	// existing are the tenants with a chain (the register's too) in the
	// register's snapshot, as verify of one tenant reads them.
	existing []int64
}

// readRegistry reads and verifies the register, and lists the tenants
// with a chain (a head or records; tenant alone when set) in the same
// snapshot: a chain begins with its registration, in one transaction, so
// every chain of that snapshot is registered.
func readRegistry(ctx context.Context, trail Trail, sealer Sealer, tenant *int64) (*registry, error) {
	var g *registry
	err := trail.Snapshot(ctx, func(ctx context.Context) error {
		var err error
		if g, err = readRegister(ctx, trail, sealer); err != nil {
			return err
		}
		if tenant != nil {
			ends, err := trail.Ends(ctx, *tenant)
			if err != nil {
				return err
			}
			had := ends.Found
			if !had {
				page, err := trail.Entries(ctx, *tenant, math.MinInt64, 1)
				if err != nil {
					return err
				}
				had = len(page) > 0
			}
			g.had[*tenant] = had
			if *tenant != RegisterTenant { // sealed as a chain by Seal, alone
				g.tenants = []int64{*tenant}
			}
			return nil
		}
		tenants, err := trail.Tenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range tenants {
			if t != RegisterTenant {
				g.had[t] = true
				g.tenants = append(g.tenants, t)
			}
		}
		for t := range g.begun {
			if !g.had[t] {
				g.tenants = append(g.tenants, t)
			}
		}
		slices.Sort(g.tenants)
		return nil
	})
	return g, err
}

// readRegister reads and verifies the register, inside a snapshot.
func readRegister(ctx context.Context, trail Trail, sealer Sealer) (*registry, error) {
	g := &registry{begun: map[int64][]Entry{}, had: map[int64]bool{}}
	r, err := walkChain(ctx, trail, RegisterTenant, func(e Entry) error {
		t, err := strconv.ParseInt(e.TargetID, 10, 64)
		if err != nil || e.TargetType != TargetChain || (e.Operation != OpChainBegin && e.Operation != OpChainRegister) || t == RegisterTenant {
			return &Broken{TenantID: RegisterTenant, ID: e.ID, Seq: e.Seq, Why: "is not the record of a chain (" + e.Operation + " " + e.TargetType + " " + e.TargetID + ")"}
		}
		g.begun[t] = append(g.begun[t], e)
		return nil
	})
	var b *Broken
	switch {
	case errors.As(err, &b):
		g.broken = err
	case err != nil:
		return nil, err
	case r.Found:
		if serr := sealer.Check(RegisterTenant, r.ChainEnds); serr != nil {
			g.broken = &Broken{TenantID: RegisterTenant, Seq: r.Head.Seq, Why: sealWhy(serr)}
		}
	}
	g.result = r
	if g.broken != nil {
		g.begun = map[int64][]Entry{} // not to be trusted
	}
	return g, nil
}

// verifyOne is Verify of one tenant's chain: the register and the chain
// are read in one snapshot, so the chain is there exactly when the
// register must hold it.
func verifyOne(ctx context.Context, trail Trail, sealer Sealer, t int64) (*registry, VerifyResult, error) {
	var g *registry
	var r VerifyResult
	var broken error
	err := trail.Snapshot(ctx, func(ctx context.Context) error {
		var err error
		if g, err = readRegister(ctx, trail, sealer); err != nil {
			return err
		}
		// The chains that exist, in the register's snapshot (holdsAll).
		if g.existing, err = trail.Tenants(ctx); err != nil {
			return err
		}
		r, err = walkChain(ctx, trail, t, nil)
		var b *Broken
		if errors.As(err, &b) {
			broken = err
			return nil
		}
		g.had[t] = r.Found
		return err
	})
	if err != nil {
		return nil, VerifyResult{}, err
	}
	return g, r, broken
}

// holdsAll marks the register broken when a chain other than tenant's
// exists that it does not hold: the register was deleted whole (or begun
// again after that), or the chains were written before it (audit seal
// --force registers them). Verify of one tenant cannot otherwise tell
// that tenant's chain deleted together with the register from a tenant
// that never had one.
func (g *registry) holdsAll(tenant int64) {
	if g.broken != nil {
		return
	}
	var missing []int64
	for _, t := range g.existing {
		if t != RegisterTenant && t != tenant && len(g.begun[t]) == 0 {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		g.broken = &Broken{TenantID: RegisterTenant, Seq: g.result.Head.Seq, Why: fmt.Sprintf(
			"does not hold %d chain(s) that exist (tenant %d first): it was deleted whole or begun again, "+
				"so it cannot vouch for tenant %d's chain; chains written before the register need `audit seal --force`",
			len(missing), missing[0], tenant)}
	}
}

// check is the register's word on tenant t's chain, r as verified (in a
// later snapshot than the register's). A chain that is not registered
// gives errUnregistered (audit seal --force registers it once it
// verifies), anything else a *Broken. A register that is broken itself
// is reported on its own, and checks nothing.
func (g *registry) check(t int64, r VerifyResult) error {
	if g.broken != nil {
		return nil
	}
	if b := g.begunAgain(t); b != nil {
		return b
	}
	begun := g.begun[t]
	switch {
	case len(begun) == 1 && (!g.had[t] || !r.Found):
		return &Broken{TenantID: t, Why: fmt.Sprintf(
			"the chain begun at %s (register seq %d) is gone, records and head: it was deleted whole",
			begun[0].Time.UTC().Format(time.RFC3339Nano), begun[0].Seq)}
	case len(begun) == 0 && r.Found && g.had[t]:
		return errUnregistered
	}
	return nil
}

// begunAgain is the *Broken of a tenant registered more than once: its
// chain deleted whole, then begun again by the service's next record.
func (g *registry) begunAgain(t int64) error {
	begun := g.begun[t]
	if g.broken != nil || len(begun) < 2 {
		return nil
	}
	last := begun[len(begun)-1]
	return &Broken{TenantID: t, Why: fmt.Sprintf(
		"the chain was begun again at %s (register seq %d), after it first began at %s (register seq %d): "+
			"the chain before was deleted whole, its records and its head row",
		last.Time.UTC().Format(time.RFC3339Nano), last.Seq, begun[0].Time.UTC().Format(time.RFC3339Nano), begun[0].Seq)}
}

// errUnregistered is a chain with a head that the register does not hold.
var errUnregistered = errors.New("the chain is not in the register of chains")

// unregisteredWhy explains errUnregistered for audit verify.
func (g *registry) unregisteredWhy() string {
	if !g.result.Found {
		return errUnregistered.Error() + ", and there is no register: the chain was written before the register was kept " +
			"(an upgrade), or the register was deleted (with a chain of its own, maybe); once you know which, " +
			"`mgvcore audit seal --force` registers the chains that verify"
	}
	return errUnregistered.Error() + ": written before the register was kept, or its record was removed from the register, " +
		"or the head row was inserted; once you know which, `mgvcore audit seal --force` registers it if it verifies"
}
