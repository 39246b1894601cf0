package audit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
)

// Trail is the stored audit trail as reading, verifying and trimming use it
// (dao.AuditLogs).
type Trail interface {
	Store
	// List returns a tenant's records matching q, newest first, and how
	// many match in all.
	List(ctx context.Context, q Query) ([]Entry, int64, error)
	// Tenants lists every tenant with a chain (a head or any record), but
	// the register of chains (RegisterTenant).
	Tenants(ctx context.Context) ([]int64, error)
	// Ends returns a tenant's anchor and head as its audit_heads row
	// holds them (Found false, both Link{0, Genesis}, without a row).
	Ends(ctx context.Context, tenantID int64) (ChainEnds, error)
	// Entries returns up to limit of a tenant's records after seq, in
	// sequence order (math.MinInt64 for all of them, whatever their seq).
	Entries(ctx context.Context, tenantID, afterSeq int64, limit int) ([]Entry, error)
	// Trim deletes, in one transaction holding the tenant's head, up to
	// limit of its oldest records written before before (only a prefix of
	// the chain) and moves the anchor to the last one deleted.
	Trim(ctx context.Context, tenantID int64, before time.Time, limit int) (int64, error)
	// Snapshot runs fn with a context whose reads see one consistent
	// snapshot of the database, taken at its first read, and write
	// nothing.
	Snapshot(ctx context.Context, fn func(ctx context.Context) error) error
	// Reseal seals a tenant's chain's ends as they stand, beginning a new
	// seal, once check accepts them; check runs in the transaction that
	// holds the head (ctx carries it) and is given the ends as locked.
	Reseal(ctx context.Context, tenantID int64, check func(ctx context.Context, cur ChainEnds) error) (ChainEnds, error)
	// RegisterChain enters the chain of tenant, which has a head, in the
	// register of chains (OpChainRegister), beginning the register when
	// there is none, unless it is there already; in one transaction that
	// holds the register's head and then the tenant's.
	RegisterChain(ctx context.Context, tenantID int64) error
}

// Query filters a tenant's records; zero fields match all.
type Query struct {
	TenantID   int64
	ActorKind  string
	ActorID    int64
	Operation  string
	TargetType string
	TargetID   string
	Result     string
	// From is inclusive, To exclusive.
	From, To time.Time
	// BeforeSeq continues a listing below that sequence number.
	BeforeSeq int64
	Limit     int
}

// ListReq is a listing of the caller's tenant's trail.
type ListReq struct {
	ActorKind, Operation, TargetType, TargetID, Result string
	ActorID                                            int64
	From, To                                           time.Time
	PageSize                                           int
	PageToken                                          string
}

// ListResp is a page of records, newest first.
type ListResp struct {
	Records       []Entry
	Total         int64
	NextPageToken string
}

// Log reads the trail for tenant admins.
type Log struct{ trail Trail }

// NewLog reads trail.
func NewLog(trail Trail) *Log { return &Log{trail: trail} }

type listCursor struct {
	Seq int64 `json:"s"`
}

// maxFilterLen bounds a text filter to the column it is compared with.
const maxFilterLen = 64

// List pages through the caller's tenant's records, newest first.
func (l *Log) List(ctx context.Context, req ListReq) (ListResp, error) {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return ListResp{}, err
	}
	size, err := access.PageSize(req.PageSize)
	if err != nil {
		return ListResp{}, err
	}
	var cur listCursor
	if err := access.DecodePageToken(req.PageToken, &cur); err != nil {
		return ListResp{}, err
	}
	if req.PageToken != "" && cur.Seq <= 0 {
		return ListResp{}, access.ErrPageTokenNotIssued()
	}
	switch req.ActorKind {
	case "", ActorUser, ActorApp, ActorAnonymous, ActorSystem:
	default:
		return ListResp{}, errs.InvalidArgument("actor_kind", "must be one of user, app, anonymous, system")
	}
	if req.ActorID < 0 {
		return ListResp{}, errs.InvalidArgument("actor_id", "must be a positive id (got %d)", req.ActorID)
	}
	for _, f := range []struct{ field, v string }{
		{"operation", req.Operation}, {"target_type", req.TargetType}, {"target_id", req.TargetID}, {"result", req.Result},
	} {
		if len(f.v) > maxFilterLen || !utf8.ValidString(f.v) {
			return ListResp{}, errs.InvalidArgument(f.field, "must be UTF-8 text of at most %d bytes", maxFilterLen)
		}
	}
	if err := access.CheckQueryTime("from", req.From); err != nil {
		return ListResp{}, err
	}
	if err := access.CheckQueryTime("to", req.To); err != nil {
		return ListResp{}, err
	}
	if !req.From.IsZero() && !req.To.IsZero() && !req.To.After(req.From) {
		return ListResp{}, errs.InvalidArgument("to", "must be later than from")
	}
	rows, total, err := l.trail.List(ctx, Query{
		TenantID: s.TenantID, ActorKind: req.ActorKind, ActorID: req.ActorID, Operation: req.Operation,
		TargetType: req.TargetType, TargetID: req.TargetID, Result: req.Result,
		From: req.From, To: req.To, BeforeSeq: cur.Seq, Limit: size + 1,
	})
	if err != nil {
		return ListResp{}, err
	}
	resp := ListResp{Records: rows, Total: total}
	if len(rows) > size {
		resp.Records = rows[:size]
		resp.NextPageToken = access.EncodePageToken(listCursor{Seq: rows[size-1].Seq})
	}
	return resp, nil
}

// ChainEnds is a tenant's row in audit_heads: the anchor (the last record
// trimmed) and the head (the newest record), with when each last moved.
type ChainEnds struct {
	Found     bool
	Anchor    Link
	TrimmedAt time.Time
	Head      Link
	HeadAt    time.Time
	// Seal is the Sealer's seal of the head and the anchor, begun at
	// SealedAt ("" when the ends were never sealed).
	Seal     string
	SealedAt time.Time
}

// verifyPage is how many records Verify reads at a time.
const verifyPage = 1000

// VerifyResult is what Verify checked of one tenant's chain, and the ends
// it trusted: the database holds them too, so an operator compares them
// with a copy kept elsewhere (an earlier run's output, or the chain ends
// the Trimmer logs each round).
type VerifyResult struct {
	TenantID int64
	ChainEnds
	Checked int64
}

// Verify checks the chain of tenant, or of every tenant when tenant is nil,
// and reports each chain that verifies to each. Each broken chain gives a
// *Broken error naming its first bad record; they are returned together
// (errors.Join) once every chain is checked. Another error (the database)
// stops it at once.
//
// Every record of the tenant is read, whatever its seq: one at or below
// the anchor (a trimmed record put back, a seq of 0 or less, or an anchor
// moved forward over records that are still there), one beyond the head
// (the head lowered or lost, or a record inserted ahead of the chain),
// records without a head row, and a row that shares its seq with another
// (once the unique key on the seq is dropped) are all reported. Then the
// ends it read must carry sealer's seal (see Sealer). The ends and the
// records are read in one snapshot (Trail.Snapshot), so appends, trims
// and changes of the head row meanwhile are not seen.
//
// First the register of chains is read and verified as a chain (reported
// to each with TenantID RegisterTenant), with the tenants that have a
// chain, in one snapshot; then each chain must be registered once, and
// each registered tenant must still have its chain: a chain deleted whole
// (its records and its head row), with --tenant or without, and a chain
// begun again after that, are reported (see RegisterTenant).
func Verify(ctx context.Context, trail Trail, sealer Sealer, tenant *int64, each func(VerifyResult)) error {
	var g *registry
	var one VerifyResult
	var oneErr error
	var err error
	if tenant != nil {
		g, one, oneErr = verifyOne(ctx, trail, sealer, *tenant)
		var b *Broken
		if oneErr != nil && !errors.As(oneErr, &b) {
			return oneErr
		}
		g.tenants = []int64{*tenant}
		if *tenant == RegisterTenant {
			// The register alone: verified above, reported below.
			g.tenants, oneErr = nil, nil
		} else {
			g.holdsAll(*tenant)
		}
	} else if g, err = readRegistry(ctx, trail, sealer, nil); err != nil {
		return err
	}
	var broken []error
	switch {
	case g.broken != nil:
		broken = append(broken, g.broken)
	case g.result.Found && each != nil:
		each(g.result)
	}
	err = eachChain(g.tenants, func(t int64) (VerifyResult, error) {
		r, err := one, oneErr
		if tenant == nil {
			r, err = verifyChain(ctx, trail, t)
		}
		if err == nil && r.Found {
			if serr := sealer.Check(t, r.ChainEnds); serr != nil {
				err = &Broken{TenantID: t, Seq: r.Head.Seq, Why: sealWhy(serr)}
			}
		}
		if err == nil {
			err = g.check(t, r)
			if errors.Is(err, errUnregistered) {
				err = &Broken{TenantID: t, Seq: r.Head.Seq, Why: g.unregisteredWhy()}
			}
		}
		return r, err
	}, each)
	var b *Broken
	if err != nil && !errors.As(err, &b) {
		return err
	}
	return errors.Join(append(broken, err)...)
}

// eachChain runs check on the chain of each of tenants and gives each
// result to each (when set). A broken chain (*Broken) does not stop it:
// the broken ones are returned together once every chain is done. Another
// error stops it at once.
func eachChain[R any](tenants []int64, check func(t int64) (R, error), each func(R)) error {
	var broken []error
	for _, t := range tenants {
		r, err := check(t)
		var b *Broken
		switch {
		case errors.As(err, &b):
			broken = append(broken, err)
		case err != nil:
			return err
		case each != nil:
			each(r)
		}
	}
	return errors.Join(broken...)
}

// walkTries bounds Seal's walks of a chain that a trim shortens each time
// before the seal.
const walkTries = 3

// verifyChain checks one tenant's chain (see Verify), reading its ends and
// its records in one consistent snapshot of the database: a trim, an
// append or a change of the head row made meanwhile is not seen at all,
// so the records checked are those of the ends checked.
func verifyChain(ctx context.Context, trail Trail, t int64) (VerifyResult, error) {
	var r VerifyResult
	err := trail.Snapshot(ctx, func(ctx context.Context) error {
		var err error
		r, err = walkChain(ctx, trail, t, nil)
		return err
	})
	return r, err
}

// walkChain is verifyChain inside its snapshot; visit, when set, is given
// each record that follows the chain, and may fail it.
func walkChain(ctx context.Context, trail Trail, t int64, visit func(Entry) error) (VerifyResult, error) {
	ends, err := trail.Ends(ctx, t)
	if err != nil {
		return VerifyResult{}, err
	}
	v := NewVerifier(t, ends.Anchor)
	err = eachEntry(ctx, trail, t, math.MinInt64, func(e Entry) error {
		bad := func(why string, args ...any) error {
			return &Broken{TenantID: t, ID: e.ID, Seq: e.Seq, Why: fmt.Sprintf(why, args...)}
		}
		switch {
		case !ends.Found:
			return bad("the tenant has records but no head in audit_heads: the head row was deleted")
		case e.Seq <= ends.Anchor.Seq:
			return bad("is at or below the trim anchor (seq %d): a trimmed record was put back, the seq was rewritten, or the anchor was moved over records still present", ends.Anchor.Seq)
		case e.Seq > ends.Head.Seq:
			return bad("is beyond the chain's head (seq %d): %s", ends.Head.Seq, beyondHead)
		}
		if err := v.Next(e); err != nil || visit == nil {
			return err
		}
		return visit(e)
	})
	if err != nil {
		return VerifyResult{}, err
	}
	if err := v.End(ends.Head); err != nil {
		return VerifyResult{}, err
	}
	return VerifyResult{TenantID: t, ChainEnds: ends, Checked: v.Checked()}, nil
}

// errEndsMoved is a chain trimmed between Seal's walk and its seal.
var errEndsMoved = errors.New("the chain was trimmed while it was read")

// errSealed is a chain Seal found sealed already, and errUnforced one it
// leaves unsealed without force: nothing to write.
var (
	errSealed   = errors.New("sealed already")
	errUnforced = errors.New("not sealed without force")
)

// SealResult is what Seal did with one chain: Was is the seal its ends
// carried (nil: theirs, left as it was; ErrUnsealed; ErrSealMismatch), and
// Sealed whether Seal sealed them anew.
type SealResult struct {
	VerifyResult
	Was    error
	Sealed bool
	// Unregistered is a chain that verifies but is not in the register of
	// chains, and Registered one that Seal (with force) entered in it.
	Unregistered, Registered bool
}

// Seal verifies the chain of tenant, or of every tenant when tenant is
// nil, as Verify does but for the seal. With force it seals with sealer,
// as they stand, the ends of each chain that verifies and does not carry
// its seal (written before seals were kept, the seal removed, or sealed
// under another key); without it, it only reports them. Ends that carry
// their seal are left as they are. A broken chain is never sealed: it
// gives the *Broken error Verify gives, all of them returned together once
// every other chain is done. Records appended after the walk are checked
// in the transaction that seals, which holds the head.
//
// The register of chains is sealed first, as a chain (reported with
// TenantID RegisterTenant); then each chain that verifies and is not in
// the register (written before it was kept, or the register lost) is
// reported Unregistered, and with force entered in it (beginning the
// register when there is none). A chain the register shows deleted whole,
// or begun again after that, is broken as Verify says, and never sealed
// nor registered: that evidence stays.
func Seal(ctx context.Context, trail Trail, sealer Sealer, tenant *int64, force bool, each func(SealResult)) error {
	var broken []error
	reg, err := sealChain(ctx, trail, sealer, RegisterTenant, force)
	var b *Broken
	switch {
	case errors.As(err, &b):
		broken = append(broken, err)
	case err != nil:
		return err
	case reg.Found && each != nil:
		each(reg)
	}
	g, err := readRegistry(ctx, trail, sealer, tenant)
	if err != nil {
		return err
	}
	if g.broken != nil && len(broken) == 0 {
		broken = append(broken, g.broken)
	}
	err = eachChain(g.tenants, func(t int64) (SealResult, error) {
		if b := g.begunAgain(t); b != nil {
			return SealResult{}, b
		}
		r, err := sealChain(ctx, trail, sealer, t, force)
		if err != nil {
			return r, err
		}
		switch err := g.check(t, r.VerifyResult); {
		case errors.Is(err, errUnregistered):
			r.Unregistered = true
			if !force {
				break
			}
			if err := trail.RegisterChain(ctx, t); err != nil {
				return r, err
			}
			r.Registered = true
		case err != nil:
			return r, err
		}
		return r, nil
	}, each)
	if err != nil && !errors.As(err, &b) {
		return err
	}
	return errors.Join(append(broken, err)...)
}

// sealChain is Seal of one tenant's chain: walked again when a trim moved
// its anchor meanwhile.
func sealChain(ctx context.Context, trail Trail, sealer Sealer, t int64, force bool) (SealResult, error) {
	for try := 1; ; try++ {
		r, err := verifyChain(ctx, trail, t)
		if err != nil || !r.Found {
			return SealResult{VerifyResult: r}, err
		}
		var appended int64
		var locked ChainEnds
		var was error
		ends, err := trail.Reseal(ctx, t, func(ctx context.Context, cur ChainEnds) error {
			if cur.Anchor != r.Anchor {
				return errEndsMoved
			}
			n, err := verifyAppended(ctx, trail, t, r.Head, cur.Head)
			if err != nil {
				return err
			}
			appended, locked, was = n, cur, sealer.Check(t, cur)
			switch {
			case was == nil:
				return errSealed
			case !force:
				return errUnforced
			}
			return nil
		})
		switch {
		case errors.Is(err, errEndsMoved) && try < walkTries:
			continue
		case errors.Is(err, errEndsMoved):
			return SealResult{}, fmt.Errorf("tenant %d: %w each of %d times", t, errEndsMoved, walkTries)
		case errors.Is(err, errSealed), errors.Is(err, errUnforced):
			ends = locked
		case err != nil:
			return SealResult{}, err
		}
		r.ChainEnds = ends
		r.Checked += appended
		return SealResult{VerifyResult: r, Was: was, Sealed: err == nil}, nil
	}
}

// verifyAppended checks the records of tenant t from the link after walked
// to head, and returns how many it checked.
func verifyAppended(ctx context.Context, trail Trail, t int64, walked, head Link) (int64, error) {
	v := NewVerifier(t, walked)
	err := eachEntry(ctx, trail, t, walked.Seq, func(e Entry) error {
		if e.Seq > head.Seq {
			return &Broken{TenantID: t, ID: e.ID, Seq: e.Seq, Why: fmt.Sprintf("is beyond the chain's head (seq %d): %s", head.Seq, beyondHead)}
		}
		return v.Next(e)
	})
	if err != nil {
		return 0, err
	}
	return v.Checked(), v.End(head)
}

// beyondHead is why a record above its chain's head is there.
const beyondHead = "the head was lowered or lost, or the record was inserted"

// eachEntry calls each for the records of tenant t above seq after, in seq
// order, a page of verifyPage at a time, and stops at each's first error.
// Each page after the first starts again at the seq of the last row read
// and passes over that row alone: starting after it would skip a row that
// shares its seq, which then no check would see. (Entries gives only rows
// above after, so the last row's seq is above math.MinInt64.)
func eachEntry(ctx context.Context, trail Trail, t, after int64, each func(Entry) error) error {
	lastID := int64(0)
	for {
		page, err := trail.Entries(ctx, t, after, verifyPage)
		if err != nil {
			return err
		}
		for _, e := range page {
			if lastID != 0 && e.ID == lastID && e.Seq == after+1 {
				continue
			}
			if err := each(e); err != nil {
				return err
			}
		}
		if len(page) < verifyPage {
			return nil
		}
		last := page[len(page)-1]
		after, lastID = last.Seq-1, last.ID
	}
}

// String describes a verified chain in one line, with the ends trusted.
func (r VerifyResult) String() string {
	if r.TenantID == RegisterTenant {
		return fmt.Sprintf("register of chains: %d chains registered (seq %d to %d); trusted head seq %d hash %s moved at %s; ends sealed since %s",
			r.Checked, r.Anchor.Seq+1, r.Head.Seq, r.Head.Seq, r.Head.Hash, r.HeadAt.UTC().Format(time.RFC3339Nano),
			r.SealedAt.UTC().Format(time.RFC3339Nano))
	}
	if !r.Found {
		return fmt.Sprintf("tenant %d: no records, no head", r.TenantID)
	}
	anchor := "anchor seq 0 (never trimmed)"
	if r.Anchor.Seq > 0 {
		anchor = fmt.Sprintf("anchor seq %d hash %s trimmed at %s", r.Anchor.Seq, r.Anchor.Hash, r.TrimmedAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("tenant %d: %d records verified (seq %d to %d); trusted head seq %d hash %s moved at %s; %s; ends sealed since %s",
		r.TenantID, r.Checked, r.Anchor.Seq+1, r.Head.Seq, r.Head.Seq, r.Head.Hash, r.HeadAt.UTC().Format(time.RFC3339Nano), anchor,
		r.SealedAt.UTC().Format(time.RFC3339Nano))
}
