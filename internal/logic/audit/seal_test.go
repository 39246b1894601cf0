package audit

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// testSealer seals the chains of the tests.
var testSealer = NewSealer("test-chain-key")

// numbered chains recs of tenant from the genesis, the records with ids
// from 100, and returns them, the head and the link of the i-th.
func numbered(tenant int64, recs []Record) ([]Entry, Link, func(i int) Link) {
	entries, head := Chain(tenant, Link{Hash: Genesis}, recs)
	for i := range entries {
		entries[i].ID = int64(100 + i)
	}
	return entries, head, func(i int) Link { return Link{Seq: entries[i].Seq, Hash: entries[i].Hash} }
}

// sealEnds gives ends testSealer's seal, begun at a fixed time.
func sealEnds(tenant int64, ends ChainEnds) ChainEnds {
	ends.SealedAt = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ends.Seal = testSealer.Seal(tenant, ends.Head, ends.Anchor, ends.SealedAt)
	return ends
}

func TestSealCoversEveryEnd(t *testing.T) {
	head, anchor := Link{Seq: 9, Hash: "h9"}, Link{Seq: 2, Hash: "h2"}
	at := time.Date(2026, 12, 1, 9, 0, 0, 123_000_000, time.UTC)
	seal := testSealer.Seal(5, head, anchor, at)
	if len(seal) != 64 || seal != testSealer.Seal(5, head, anchor, at.In(time.FixedZone("CST", 8*3600))) {
		t.Fatalf("seal %q is not a stable hex MAC", seal)
	}
	for name, other := range map[string]string{
		"tenant":      testSealer.Seal(6, head, anchor, at),
		"head seq":    testSealer.Seal(5, Link{Seq: 8, Hash: "h9"}, anchor, at),
		"head hash":   testSealer.Seal(5, Link{Seq: 9, Hash: "h8"}, anchor, at),
		"anchor seq":  testSealer.Seal(5, head, Link{Seq: 3, Hash: "h2"}, at),
		"anchor hash": testSealer.Seal(5, head, Link{Seq: 2, Hash: "h3"}, at),
		"sealed at":   testSealer.Seal(5, head, anchor, at.Add(time.Millisecond)),
		"key":         NewSealer("another key").Seal(5, head, anchor, at),
		// The fields are length-prefixed: moving a character from one to
		// the next is another seal.
		"boundary": testSealer.Seal(5, Link{Seq: 9, Hash: "h9h"}, Link{Seq: 2, Hash: "2"}, at),
	} {
		if other == seal {
			t.Errorf("a different %s gives the same seal", name)
		}
	}
	ends := ChainEnds{Found: true, Head: head, Anchor: anchor, SealedAt: at, Seal: seal}
	if err := testSealer.Check(5, ends); err != nil {
		t.Fatalf("the ends' own seal: %v", err)
	}
	if err := NewSealer("another key").Check(5, ends); !errors.Is(err, ErrSealMismatch) {
		t.Fatalf("another key: %v", err)
	}
	ends.Seal = ""
	if err := testSealer.Check(5, ends); !errors.Is(err, ErrUnsealed) {
		t.Fatalf("no seal: %v", err)
	}
}

// What the records' hashes alone cannot show, the seal does: records
// rewritten with their head, the newest records deleted with the head
// lowered to match, the oldest deleted with the anchor moved to match, and
// a seal removed; ends put back with their earlier seal still pass.
func TestVerifyChecksTheSeal(t *testing.T) {
	const tenant = 5
	genesis := Link{Hash: Genesis}
	recs := sample(10)
	entries, head, link := numbered(tenant, recs)
	intact := sealEnds(tenant, ChainEnds{Found: true, Anchor: genesis, Head: head})
	verify := func(ends ChainEnds, rows []Entry, sealer Sealer) (VerifyResult, error) {
		one := int64(tenant)
		var got VerifyResult
		err := Verify(context.Background(), &verifyTrail{ends: ends, rows: rows}, sealer, &one, func(r VerifyResult) { got = r })
		return got, err
	}
	if r, err := verify(intact, entries, testSealer); err != nil || r.Checked != 10 || !strings.Contains(r.String(), "ends sealed since 2026-12-01T09:00:00Z") {
		t.Fatalf("intact chain: %v %v", r, err)
	}

	// Record 4 edited, and the hashes from it on computed again.
	edited := slices.Clone(recs[3:])
	edited[0].Result = "PERMISSION_DENIED"
	rewritten, newHead := Chain(tenant, link(2), edited)
	rewrittenRows := append(slices.Clone(entries[:3]), rewritten...)
	for i := range rewrittenRows {
		rewrittenRows[i].ID = int64(100 + i)
	}
	withHead := func(e ChainEnds, h Link) ChainEnds { e.Head = h; return e }
	withAnchor := func(e ChainEnds, a Link) ChainEnds { e.Anchor = a; return e }
	unsealed := intact
	unsealed.Seal = ""
	for _, tc := range []struct {
		name   string
		ends   ChainEnds
		rows   []Entry
		sealer Sealer
		want   error
	}{
		{"records rewritten with their head", withHead(intact, newHead), rewrittenRows, testSealer, ErrSealMismatch},
		{"newest deleted, head lowered", withHead(intact, link(6)), entries[:7], testSealer, ErrSealMismatch},
		{"oldest deleted, anchor moved", withAnchor(intact, link(2)), entries[3:], testSealer, ErrSealMismatch},
		{"seal removed", unsealed, entries, testSealer, ErrUnsealed},
		{"another key", intact, entries, NewSealer("another key"), ErrSealMismatch},
	} {
		_, err := verify(tc.ends, tc.rows, tc.sealer)
		b := brokenOf(err, tenant)
		if b == nil || b.ID != 0 || b.Seq != tc.ends.Head.Seq || !strings.Contains(err.Error(), tc.want.Error()) {
			t.Errorf("%s: %v, want the chain of tenant 5 reported: %v", tc.name, err, tc.want)
		}
	}
	// Ends put back as they were, with the seal they had then: the seal
	// cannot tell; verify states the head it trusted.
	earlier := sealEnds(tenant, ChainEnds{Found: true, Anchor: genesis, Head: link(6)})
	if r, err := verify(earlier, entries[:7], testSealer); err != nil || !strings.Contains(r.String(), "trusted head seq 7") {
		t.Fatalf("earlier ends with their seal: %v %v", r, err)
	}
}

// brokenOf is the *Broken of tenant's chain among err's (which may join
// several), nil when there is none.
func brokenOf(err error, tenant int64) *Broken {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var b *Broken
		if errors.As(e, &b) && b.TenantID == tenant {
			return b
		}
	}
	return nil
}

// sealTrail is a verifyTrail whose Reseal seals as the dao does: locked
// are the ends as the transaction finds them (nil: ends), once per call
// in turn.
type sealTrail struct {
	verifyTrail
	locked []ChainEnds
	// more are rows appended between the walk and the first Reseal.
	more   []Entry
	sealed int
}

func (s *sealTrail) Reseal(ctx context.Context, tenant int64, check func(context.Context, ChainEnds) error) (ChainEnds, error) {
	if tenant == RegisterTenant {
		return testRegister.ends, check(ctx, testRegister.ends) // sealed: left as it is
	}
	cur := s.ends
	if len(s.locked) > 0 {
		cur, s.locked = s.locked[0], s.locked[1:]
		s.ends = cur
		// A trim meanwhile deleted what is at or below its anchor.
		s.rows = slices.DeleteFunc(slices.Clone(s.rows), func(e Entry) bool { return e.Seq <= cur.Anchor.Seq })
	}
	s.rows, s.more = append(s.rows, s.more...), nil
	if err := check(ctx, cur); err != nil {
		return ChainEnds{}, err
	}
	cur = sealEnds(tenant, cur)
	s.ends = cur
	s.sealed++
	return cur, nil
}

// Seal keeps a seal that matches, reports ends without their seal and
// seals them only with force, checks the records appended after its walk,
// seals no broken chain, and walks again when a trim moved the anchor.
func TestSealVerifiesBeforeSealing(t *testing.T) {
	const tenant = 5
	genesis := Link{Hash: Genesis}
	entries, _, link := numbered(tenant, sample(12))
	oldKey := ChainEnds{Found: true, Anchor: genesis, Head: link(9), Seal: "00", SealedAt: time.Unix(0, 0)}
	unsealed := ChainEnds{Found: true, Anchor: genesis, Head: link(9)}
	seal := func(tr *sealTrail, force bool) (SealResult, error) {
		one := int64(tenant)
		var got SealResult
		err := Seal(context.Background(), tr, testSealer, &one, force, func(r SealResult) { got = r })
		return got, err
	}
	one := int64(tenant)

	// Without a seal: reported, and sealed as it stands with force once
	// the records verify.
	tr := &sealTrail{verifyTrail: verifyTrail{ends: unsealed, rows: entries[:10]}}
	if r, err := seal(tr, false); err != nil || tr.sealed != 0 || r.Sealed || !errors.Is(r.Was, ErrUnsealed) || r.Checked != 10 {
		t.Fatalf("seal of an unsealed chain without force: %+v %v", r, err)
	}
	if r, err := seal(tr, true); err != nil || tr.sealed != 1 || !r.Sealed || r.Checked != 10 || r.Head != link(9) || !errors.Is(r.Was, ErrUnsealed) {
		t.Fatalf("seal of an unsealed chain: %+v %v", r, err)
	}
	if err := Verify(context.Background(), &tr.verifyTrail, testSealer, &one, nil); err != nil {
		t.Fatalf("verify after sealing: %v", err)
	}
	// Sealed: kept as it is, force or not.
	if r, err := seal(tr, true); err != nil || tr.sealed != 1 || r.Sealed || r.Was != nil || r.Seal != tr.ends.Seal {
		t.Fatalf("seal of a sealed chain: %+v %v (sealed %d)", r, err, tr.sealed)
	}

	// A seal that does not match (another key): reported without force,
	// sealed anew with it.
	tr = &sealTrail{verifyTrail: verifyTrail{ends: oldKey, rows: entries[:10]}}
	if r, err := seal(tr, false); err != nil || r.Sealed || !errors.Is(r.Was, ErrSealMismatch) || tr.sealed != 0 {
		t.Fatalf("seal of a mismatched chain without force: %+v %v (sealed %d)", r, err, tr.sealed)
	}
	if r, err := seal(tr, true); err != nil || tr.sealed != 1 || !r.Sealed || !errors.Is(r.Was, ErrSealMismatch) {
		t.Fatalf("seal of a mismatched chain with force: %+v %v", r, err)
	}

	// Two records appended between the walk and the lock are checked and
	// sealed with the rest.
	appended := unsealed
	appended.Head = link(11)
	tr = &sealTrail{verifyTrail: verifyTrail{ends: unsealed, rows: entries[:10]}, locked: []ChainEnds{appended}, more: entries[10:]}
	if r, err := seal(tr, true); err != nil || !r.Sealed || r.Checked != 12 || r.Head != link(11) {
		t.Fatalf("seal with records appended meanwhile: %+v %v", r, err)
	}

	// Records appended meanwhile that do not follow the chain are not
	// sealed over.
	forged := slices.Clone(entries)
	forged[11].Result = "forged"
	tr = &sealTrail{verifyTrail: verifyTrail{ends: unsealed, rows: forged[:10]}, locked: []ChainEnds{appended}, more: forged[10:]}
	var b *Broken
	if _, err := seal(tr, true); !errors.As(err, &b) || b.ID != 111 || tr.sealed != 0 {
		t.Fatalf("forged record appended meanwhile: %v (sealed %d)", err, tr.sealed)
	}

	// A broken chain is reported, not sealed, whatever force says.
	broken := slices.Clone(entries[:10])
	broken[4].ActorID++
	tr = &sealTrail{verifyTrail: verifyTrail{ends: unsealed, rows: broken}}
	if _, err := seal(tr, true); !errors.As(err, &b) || b.ID != 104 || tr.sealed != 0 {
		t.Fatalf("broken chain: %v (sealed %d)", err, tr.sealed)
	}

	// A trim between the walk and the lock: walked again from the new
	// anchor, then sealed.
	trimmed := unsealed
	trimmed.Anchor = link(2)
	tr = &sealTrail{verifyTrail: verifyTrail{ends: unsealed, rows: entries[:10]}, locked: []ChainEnds{trimmed}}
	if r, err := seal(tr, true); err != nil || tr.sealed != 1 || r.Anchor != link(2) || r.Checked != 7 {
		t.Fatalf("seal across a trim: %+v %v", r, err)
	}
}

// Records missing at the start of a chain whose anchor did not move are
// reported, as are records deleted from the middle with the anchor moved
// over them without the key.
func TestVerifyFindsRecordsMissingAtTheStart(t *testing.T) {
	const tenant = 5
	genesis := Link{Hash: Genesis}
	entries, head, link := numbered(tenant, sample(8))
	before := sealEnds(tenant, ChainEnds{Found: true, Anchor: genesis, Head: head})
	one := int64(tenant)
	var b *Broken
	err := Verify(context.Background(), &verifyTrail{ends: before, rows: entries[3:]}, testSealer, &one, nil)
	if !errors.As(err, &b) || b.ID != 103 || !strings.Contains(err.Error(), "a record is missing") {
		t.Fatalf("records missing at the start: %v", err)
	}
	moved := before
	moved.Anchor = link(4)
	err = Verify(context.Background(), &verifyTrail{ends: moved, rows: entries[5:]}, testSealer, &one, nil)
	if err == nil || !strings.Contains(err.Error(), ErrSealMismatch.Error()) {
		t.Fatalf("records deleted, the anchor moved without the key: %v", err)
	}
}

// endsTrail is a verifyTrail whose Ends gives each of ends in turn, the
// last one from then on: a head row changed between reads.
type endsTrail struct {
	verifyTrail
	seq []ChainEnds
}

func (e *endsTrail) Ends(ctx context.Context, t int64) (ChainEnds, error) {
	if t == RegisterTenant {
		return testRegister.Ends(ctx, t)
	}
	out := e.seq[0]
	if len(e.seq) > 1 {
		e.seq = e.seq[1:]
	}
	return out, nil
}

// Records deleted from the middle are not hidden by a head row that shows
// an anchor just before them for a moment and the genuine sealed row
// again: verify reads the ends once, in the snapshot of its walk, and
// finds the records missing.
func TestVerifyNotFooledByAnAnchorShownForAMoment(t *testing.T) {
	const tenant = 5
	genesis := Link{Hash: Genesis}
	entries, head, link := numbered(tenant, sample(10))
	genuine := sealEnds(tenant, ChainEnds{Found: true, Anchor: genesis, Head: link(8)})
	fake := ChainEnds{Found: true, Anchor: link(3), Head: link(8)}
	withLast := genuine
	withLast.Head = head
	withLast = sealEnds(tenant, withLast)
	rows := append(slices.Clone(entries[:2]), entries[4:]...) // seq 3 and 4 deleted
	tr := &endsTrail{verifyTrail: verifyTrail{rows: rows}, seq: []ChainEnds{genuine, fake, withLast}}
	one := int64(tenant)
	err := Verify(context.Background(), tr, testSealer, &one, nil)
	var b *Broken
	if !errors.As(err, &b) || b.Seq != 5 || !strings.Contains(err.Error(), "a record is missing") {
		t.Fatalf("records deleted from the middle behind an anchor shown for a moment: %v", err)
	}
}

// multiTrail holds the chains of several tenants, one verifyTrail each.
type multiTrail struct {
	Trail
	chains map[int64]*verifyTrail
}

func (m *multiTrail) Tenants(context.Context) ([]int64, error) {
	return slices.Sorted(maps.Keys(m.chains)), nil
}

func (m *multiTrail) Snapshot(ctx context.Context, fn func(context.Context) error) error {
	return fn(ctx)
}

func (m *multiTrail) Ends(ctx context.Context, t int64) (ChainEnds, error) {
	if t == RegisterTenant {
		return testRegister.Ends(ctx, t)
	}
	c, ok := m.chains[t]
	if !ok {
		return ChainEnds{Anchor: Link{Hash: Genesis}, Head: Link{Hash: Genesis}}, nil
	}
	return c.Ends(ctx, t)
}

func (m *multiTrail) Entries(ctx context.Context, t, after int64, limit int) ([]Entry, error) {
	if t == RegisterTenant {
		return testRegister.Entries(ctx, t, after, limit)
	}
	c, ok := m.chains[t]
	if !ok {
		return nil, nil
	}
	return c.Entries(ctx, t, after, limit)
}

// A broken chain does not keep the others from being verified: each
// broken one is reported, together, at the end.
func TestVerifyReportsEveryBrokenChain(t *testing.T) {
	chains := map[int64]*verifyTrail{}
	for _, tenant := range []int64{4, 5, 6} {
		entries, head, _ := numbered(tenant, sample(3))
		if tenant != 5 {
			entries[1].Result = "edited"
		}
		chains[tenant] = &verifyTrail{ends: sealEnds(tenant, ChainEnds{Found: true, Anchor: Link{Hash: Genesis}, Head: head}), rows: entries}
	}
	var ok []int64
	err := Verify(context.Background(), &multiTrail{chains: chains}, testSealer, nil, func(r VerifyResult) { ok = append(ok, r.TenantID) })
	if !slices.Equal(ok, []int64{RegisterTenant, 5}) || err == nil || !strings.Contains(err.Error(), "tenant 4: audit record id 101") ||
		!strings.Contains(err.Error(), "tenant 6: audit record id 101") {
		t.Fatalf("verified %v; %v", ok, err)
	}
}

// A forged row sharing the seq of the last row of a page of the records
// appended after Seal's walk, hashed onto the record before it, is read
// and reported: the chain is not sealed over it.
func TestSealReadsARowSharingASeqAtAPageEdge(t *testing.T) {
	const tenant = 5
	entries, _, link := numbered(tenant, sample(verifyPage+5))
	walked := ChainEnds{Found: true, Anchor: Link{Hash: Genesis}, Head: link(1)}
	appended := walked
	appended.Head = link(verifyPage + 4)
	at := entries[verifyPage+1] // the last row of the first page after the walk
	forged := at.Record
	forged.Operation = "conversation.delete"
	row := Entry{ID: at.ID + 10000, Record: forged, Seq: at.Seq, PrevHash: at.PrevHash, Hash: Hash(at.PrevHash, tenant, at.Seq, forged)}
	tr := &sealTrail{verifyTrail: verifyTrail{ends: walked, rows: entries[:2]}, locked: []ChainEnds{appended},
		more: append(slices.Clone(entries[2:]), row)}
	one := int64(tenant)
	var b *Broken
	err := Seal(context.Background(), tr, testSealer, &one, true, nil)
	if !errors.As(err, &b) || b.ID != row.ID || b.Seq != at.Seq || tr.sealed != 0 {
		t.Fatalf("a forged row at a page edge of the appended records: %v (sealed %d)", err, tr.sealed)
	}
}
