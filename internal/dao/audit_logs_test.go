package dao_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	auditlog "github.com/megaview/mgvcore/internal/logic/audit"
)

// chainSealer seals the chains the tests write.
var chainSealer = auditlog.NewSealer("dao-test-chain-key")

func auditRecord(tenant int64, i int, at time.Time) auditlog.Record {
	return auditlog.Normalize(auditlog.Record{
		Time: at, TenantID: tenant, ActorKind: auditlog.ActorUser, ActorID: int64(i), ClientAddr: "192.0.2.1",
		Operation: "tracker.create", TargetType: "tracker", TargetID: fmt.Sprint(i), RequestID: fmt.Sprintf("r-%d", i),
	}, time.Time{})
}

// TestAuditChainAcrossWriters appends from several writers (as instances
// would) at once; every tenant's chain must come out whole, then survive a
// trim, and an edit must still be found after it.
func TestAuditChainAcrossWriters(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		const writers, batches, per = 4, 5, 20
		var wg sync.WaitGroup
		errc := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				store := dao.NewAuditLogs(db, chainSealer, zerolog.Nop())
				for b := range batches {
					recs := make([]auditlog.Record, 0, per)
					for i := range per {
						n := (w*batches+b)*per + i
						recs = append(recs, auditRecord(int64(1+n%3), n, t0.Add(time.Duration(n)*time.Minute)))
					}
					if err := store.Append(ctx, recs); err != nil {
						errc <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		trail := dao.NewAuditLogs(db, chainSealer, zerolog.Nop())
		var checked int64
		if err := auditlog.Verify(ctx, trail, chainSealer, nil, func(r auditlog.VerifyResult) {
			if r.TenantID != auditlog.RegisterTenant { // its records are registrations
				checked += r.Checked
			}
		}); err != nil {
			t.Fatal(err)
		}
		if checked != writers*batches*per {
			t.Fatalf("verified %d records, want %d", checked, writers*batches*per)
		}

		// Newest first, filtered, paged.
		page, total, err := trail.List(ctx, auditlog.Query{TenantID: 1, Operation: "tracker.create", Limit: 5})
		if err != nil || len(page) != 5 || total < 100 || page[0].Seq <= page[1].Seq {
			t.Fatalf("list: %d rows of %d, %v", len(page), total, err)
		}
		next, _, err := trail.List(ctx, auditlog.Query{TenantID: 1, BeforeSeq: page[4].Seq, Limit: 1})
		if err != nil || len(next) != 1 || next[0].Seq != page[4].Seq-1 {
			t.Fatalf("next page: %+v %v", next, err)
		}

		// Nothing of tenant 2 is older than t0: nothing goes.
		if n, err := trail.Trim(ctx, 2, t0, 10); err != nil || n != 0 {
			t.Fatalf("trim before the oldest record: %d %v", n, err)
		}
		// Trim tenant 1 in three batches of 7 (every record is older than
		// the cut-off; the batches bound each transaction).
		before := t0.Add(1000 * time.Minute)
		for range 3 {
			if n, err := trail.Trim(ctx, 1, before, 7); err != nil || n != 7 {
				t.Fatalf("trim a batch: %d %v", n, err)
			}
		}
		one := int64(1)
		if err := auditlog.Verify(ctx, trail, chainSealer, &one, nil); err != nil {
			t.Fatalf("after trimming 21: %v", err)
		}
		ends, _ := trail.Ends(ctx, 1)
		anchor := ends.Anchor
		rest, err := trail.Entries(ctx, 1, 0, 1)
		if err != nil || len(rest) != 1 || anchor.Seq != 21 || rest[0].Seq != 22 {
			t.Fatalf("first record after the trim: %+v (anchor %d) %v", rest, anchor.Seq, err)
		}
		if err := db.Exec("UPDATE audit_logs SET result = 'ok-edited' WHERE tenant_id = 1 AND seq = ?", anchor.Seq+3).Error; err != nil {
			t.Fatal(err)
		}
		var b *auditlog.Broken
		if err := auditlog.Verify(ctx, trail, chainSealer, &one, nil); !errors.As(err, &b) || b.Seq != anchor.Seq+3 {
			t.Fatalf("an edit after a trim: %v", err)
		}
	})
}

// TestAuditAppendChainTaken: a row no append wrote, holding the next
// position of a tenant's chain, makes that tenant's append fail with an
// error naming it, and leaves other tenants' appends alone.
func TestAuditAppendChainTaken(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		trail := dao.NewAuditLogs(db, chainSealer, zerolog.Nop())
		t0 := time.Now().UTC()
		if err := trail.Append(ctx, []auditlog.Record{auditRecord(1, 1, t0), auditRecord(2, 1, t0)}); err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("INSERT INTO audit_logs (tenant_id, seq, occurred_at) VALUES (1, 2, ?)", t0).Error; err != nil {
			t.Fatal(err)
		}
		var id int64
		db.Raw("SELECT id FROM audit_logs WHERE tenant_id = 1 AND seq = 2").Scan(&id)
		err := trail.Append(ctx, []auditlog.Record{auditRecord(2, 2, t0), auditRecord(1, 2, t0)})
		var taken *auditlog.ChainTaken
		if !errors.As(err, &taken) || *taken != (auditlog.ChainTaken{TenantID: 1, Head: 1, Seq: 2, ID: id}) {
			t.Fatalf("append over a taken position: %v", err)
		}
		if err := trail.Append(ctx, []auditlog.Record{auditRecord(2, 2, t0)}); err != nil {
			t.Fatalf("another tenant: %v", err)
		}
	})
}

// TestAuditAppendFullChunks appends more records than one INSERT carries,
// so full chunks (prepared on MySQL) and a shorter rest are both written,
// twice over one connection pool, with values a driver must not mangle:
// the chain verifies only if every field reads back as it was hashed.
func TestAuditAppendFullChunks(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := dao.NewAuditLogs(db, chainSealer, zerolog.Nop())
		t0 := time.Date(2026, 3, 1, 8, 0, 0, 123456789, time.UTC)
		const per = 1234
		for b := range 2 {
			recs := make([]auditlog.Record, 0, per)
			for i := range per {
				r := auditRecord(int64(1+i%2), b*per+i, t0.Add(time.Duration(b*per+i)*time.Microsecond*1500))
				r.TargetID = fmt.Sprintf(`it's \%d "销售"`+"\x00\n", i)
				r.Result = "ok"
				recs = append(recs, r)
			}
			if err := store.Append(ctx, recs); err != nil {
				t.Fatalf("append %d: %v", b, err)
			}
		}
		var checked int64
		if err := auditlog.Verify(ctx, store, chainSealer, nil, func(r auditlog.VerifyResult) {
			if r.TenantID != auditlog.RegisterTenant { // its records are registrations
				checked += r.Checked
			}
		}); err != nil {
			t.Fatal(err)
		}
		if checked != 2*per {
			t.Fatalf("verified %d records, want %d", checked, 2*per)
		}
		got, err := store.Entries(ctx, 2, 0, 1)
		if err != nil || len(got) != 1 || got[0].TargetID != `it's \1 "销售"`+"\x00\n" || got[0].Time != t0.Add(1500*time.Microsecond).Truncate(time.Millisecond) {
			t.Fatalf("first record of tenant 2: %+v %v", got, err)
		}
	})
}

// TestAuditVerifyReadsARowSharingASeq: with the unique key on (tenant_id,
// seq) dropped, a row written at the seq of the last record of one page
// of Verify's reading, hashed onto the record before that seq, is still
// read and reported: a forged record the listing shows must not pass
// because it shares its seq with a genuine one.
func TestAuditVerifyReadsARowSharingASeq(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		trail := dao.NewAuditLogs(db, chainSealer, zerolog.Nop())
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		const n = 1001 // one page of Verify's reading and one more
		for b := 0; b < n; b += 200 {
			var recs []auditlog.Record
			for i := b; i < min(b+200, n); i++ {
				recs = append(recs, auditRecord(1, i, t0.Add(time.Duration(i)*time.Second)))
			}
			if err := trail.Append(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		one := int64(1)
		if err := auditlog.Verify(ctx, trail, chainSealer, &one, nil); err != nil {
			t.Fatalf("intact chain: %v", err)
		}
		drop := "DROP INDEX uniq_audit_logs_seq"
		if db.Name() == "mysql" {
			drop = "ALTER TABLE audit_logs DROP INDEX uniq_audit_logs_seq"
		}
		if err := db.Exec(drop).Error; err != nil {
			t.Fatal(err)
		}
		const seq = 1000
		prev, err := trail.Entries(ctx, 1, seq-2, 1)
		if err != nil || len(prev) != 1 || prev[0].Seq != seq-1 {
			t.Fatalf("record %d: %+v %v", seq-1, prev, err)
		}
		forged := auditRecord(1, 7, t0.Add(seq*time.Second))
		forged.Operation, forged.TargetType, forged.TargetID = "conversation.delete", "conversation", "42"
		hash := auditlog.Hash(prev[0].Hash, 1, seq, forged)
		if err := db.Exec("INSERT INTO audit_logs (tenant_id, seq, occurred_at, actor_kind, actor_id, client_addr, operation, target_type, target_id, result, request_id, prev_hash, hash) "+
			"VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", seq, forged.Time, forged.ActorKind, forged.ActorID, forged.ClientAddr,
			forged.Operation, forged.TargetType, forged.TargetID, forged.Result, forged.RequestID, prev[0].Hash, hash).Error; err != nil {
			t.Fatal(err)
		}
		// Without the key, the two rows at seq come in any order: the one
		// read second is reported, the forged one or the genuine one.
		var ids []int64
		if err := db.Raw("SELECT id FROM audit_logs WHERE tenant_id = 1 AND seq = ?", seq).Scan(&ids).Error; err != nil || len(ids) != 2 {
			t.Fatalf("rows at seq %d: %v %v", seq, ids, err)
		}
		var b *auditlog.Broken
		if err := auditlog.Verify(ctx, trail, chainSealer, &one, nil); !errors.As(err, &b) || !slices.Contains(ids, b.ID) || b.Seq != seq {
			t.Fatalf("a forged record sharing seq %d (ids %v): verify says %v", seq, ids, err)
		}
	})
}

// TestAuditEndsSealed: appends and trims keep each chain's ends sealed on
// both stores; records rewritten with their head in SQL fail verify, and
// appends after that keep the seal as found, until `audit seal --force`
// verifies and seals the chain anew; a seal removed stays removed through
// appends until `audit seal` verifies the chain and seals it.
func TestAuditEndsSealed(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		var logs bytes.Buffer
		trail := dao.NewAuditLogs(db, chainSealer, zerolog.New(&logs))
		t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		appendN := func(from, n int) {
			t.Helper()
			recs := make([]auditlog.Record, n)
			for i := range recs {
				recs[i] = auditRecord(1, from+i, t0.Add(time.Duration(from+i)*time.Second))
			}
			if err := trail.Append(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		one := int64(1)
		verify := func() error { return auditlog.Verify(ctx, trail, chainSealer, &one, nil) }
		appendN(0, 10)
		ends, err := trail.Ends(ctx, 1)
		if err != nil || chainSealer.Check(1, ends) != nil || ends.SealedAt.IsZero() || verify() != nil {
			t.Fatalf("a fresh chain's ends: %+v %v %v", ends, err, verify())
		}
		firstSeal := ends.SealedAt
		if n, err := trail.Trim(ctx, 1, t0.Add(3*time.Second), 100); err != nil || n != 3 || verify() != nil {
			t.Fatalf("trim: %d %v %v", n, err, verify())
		}

		// Record 6 edited, the hashes from it computed again and the head
		// moved to match: every hash links, but the seal does not.
		rows, err := trail.Entries(ctx, 1, 0, 100)
		if err != nil || len(rows) != 7 {
			t.Fatalf("rows: %d %v", len(rows), err)
		}
		prev := auditlog.Link{Seq: rows[1].Seq, Hash: rows[1].Hash}
		for _, e := range rows[2:] {
			r := e.Record
			if e.Seq == 6 {
				r.Result = "PERMISSION_DENIED"
			}
			hash := auditlog.Hash(prev.Hash, 1, e.Seq, r)
			if err := db.Exec("UPDATE audit_logs SET result = ?, prev_hash = ?, hash = ? WHERE id = ?", r.Result, prev.Hash, hash, e.ID).Error; err != nil {
				t.Fatal(err)
			}
			prev = auditlog.Link{Seq: e.Seq, Hash: hash}
		}
		if err := db.Exec("UPDATE audit_heads SET hash = ? WHERE tenant_id = 1", prev.Hash).Error; err != nil {
			t.Fatal(err)
		}
		if err := verify(); err == nil || !strings.Contains(err.Error(), auditlog.ErrSealMismatch.Error()) {
			t.Fatalf("records rewritten with their head: %v", err)
		}
		// Appends go on, and leave the seal as they found it (logged once).
		appendN(10, 2)
		appendN(12, 2)
		if err := verify(); err == nil || !strings.Contains(err.Error(), auditlog.ErrSealMismatch.Error()) {
			t.Fatalf("appended after the rewrite: %v", err)
		}
		if n := strings.Count(logs.String(), "do not carry their seal"); n != 1 {
			t.Fatalf("the mismatch logged %d times, want once:\n%s", n, logs.String())
		}
		// audit seal walks the chain; a seal that does not match is sealed
		// anew only with force.
		seal := func(force bool) (auditlog.SealResult, error) {
			var got auditlog.SealResult
			err := auditlog.Seal(ctx, trail, chainSealer, &one, force, func(r auditlog.SealResult) { got = r })
			return got, err
		}
		if r, err := seal(false); err != nil || r.Sealed || !errors.Is(r.Was, auditlog.ErrSealMismatch) {
			t.Fatalf("seal without force: %+v %v", r, err)
		}
		if r, err := seal(true); err != nil || !r.Sealed || r.Checked != 11 || !errors.Is(r.Was, auditlog.ErrSealMismatch) {
			t.Fatalf("seal with force: %+v %v", r, err)
		}
		if err := verify(); err != nil {
			t.Fatalf("after audit seal: %v", err)
		}
		if ends, _ := trail.Ends(ctx, 1); !ends.SealedAt.After(firstSeal) {
			t.Fatalf("the new seal began at %s, the first at %s", ends.SealedAt, firstSeal)
		}
		// A chain that does not verify is not sealed.
		if err := db.Exec("UPDATE audit_logs SET actor_id = actor_id + 1 WHERE tenant_id = 1 AND seq = 8").Error; err != nil {
			t.Fatal(err)
		}
		var b *auditlog.Broken
		if _, err := seal(true); !errors.As(err, &b) || b.Seq != 8 || strings.Contains(err.Error(), "DEPENDENCY_UNAVAILABLE") {
			t.Fatalf("seal of a broken chain: %v", err)
		}
		if err := verify(); !errors.As(err, &b) || b.Seq != 8 || strings.HasPrefix(err.Error(), "DEPENDENCY_UNAVAILABLE") {
			t.Fatalf("verify of a broken chain: %v", err)
		}
		if err := db.Exec("UPDATE audit_logs SET actor_id = actor_id - 1 WHERE tenant_id = 1 AND seq = 8").Error; err != nil {
			t.Fatal(err)
		}

		// A seal removed fails verify, and appends leave it removed (the
		// break logged again, the chain having carried its seal since);
		// audit seal puts it back once the records verify.
		if err := db.Exec("UPDATE audit_heads SET seal = '' WHERE tenant_id = 1").Error; err != nil {
			t.Fatal(err)
		}
		if err := verify(); err == nil || !strings.Contains(err.Error(), auditlog.ErrUnsealed.Error()) {
			t.Fatalf("seal removed: %v", err)
		}
		appendN(14, 1)
		if err := verify(); err == nil || !strings.Contains(err.Error(), auditlog.ErrUnsealed.Error()) {
			t.Fatalf("appended to an unsealed chain: %v", err)
		}
		if n := strings.Count(logs.String(), "do not carry their seal"); n != 2 {
			t.Fatalf("the removed seal logged %d breaks in all, want 2:\n%s", n, logs.String())
		}
		if r, err := seal(false); err != nil || r.Sealed || !errors.Is(r.Was, auditlog.ErrUnsealed) || verify() == nil {
			t.Fatalf("seal of an unsealed chain without force: %+v %v", r, err)
		}
		if r, err := seal(true); err != nil || !r.Sealed || !errors.Is(r.Was, auditlog.ErrUnsealed) || r.Head.Seq != 15 || verify() != nil {
			t.Fatalf("seal of an unsealed chain: %+v %v %v", r, err, verify())
		}
		if r, err := seal(true); err != nil || r.Sealed || r.Was != nil {
			t.Fatalf("seal of a sealed chain: %+v %v", r, err)
		}

		// A recent record whose time is moved back past the retention is
		// not trimmed: it no longer hashes to what it says.
		if err := db.Exec("UPDATE audit_logs SET occurred_at = ? WHERE tenant_id = 1 AND seq <= 6", t0.Add(-24*time.Hour)).Error; err != nil {
			t.Fatal(err)
		}
		var broken *auditlog.Broken
		if n, err := trail.Trim(ctx, 1, t0, 100); !errors.As(err, &broken) || broken.Seq != 4 || n != 0 || strings.Contains(err.Error(), "DEPENDENCY_UNAVAILABLE") {
			t.Fatalf("trim of backdated records: %d %v", n, err)
		}
		if ends, _ := trail.Ends(ctx, 1); ends.Anchor.Seq != 3 || chainSealer.Check(1, ends) != nil {
			t.Fatalf("the anchor moved over backdated records: %+v", ends)
		}
	})
}

// TestAuditSnapshot: what Snapshot reads is one snapshot, on both stores:
// records appended and a head moved by another connection after its first
// read are not seen, so verify checks the records of the ends it checks.
func TestAuditSnapshot(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		trail := dao.NewAuditLogs(db, chainSealer, zerolog.Nop())
		t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		batch := func(from int) []auditlog.Record {
			recs := make([]auditlog.Record, 5)
			for i := range recs {
				recs[i] = auditRecord(1, from+i, t0.Add(time.Duration(from+i)*time.Second))
			}
			return recs
		}
		if err := trail.Append(ctx, batch(0)); err != nil {
			t.Fatal(err)
		}
		err := trail.Snapshot(ctx, func(ctx context.Context) error {
			ends, err := trail.Ends(ctx, 1)
			if err != nil || ends.Head.Seq != 5 {
				t.Fatalf("ends in the snapshot: %+v %v", ends, err)
			}
			// Another connection (ctx without the snapshot's transaction).
			if err := trail.Append(context.Background(), batch(5)); err != nil {
				t.Fatal(err)
			}
			if _, err := trail.Trim(context.Background(), 1, t0.Add(2*time.Second), 100); err != nil {
				t.Fatal(err)
			}
			rows, err := trail.Entries(ctx, 1, 0, 100)
			if err != nil || len(rows) != 5 || rows[0].Seq != 1 || rows[4].Seq != 5 {
				t.Fatalf("records in the snapshot: %d %v", len(rows), err)
			}
			if again, err := trail.Ends(ctx, 1); err != nil || again != ends {
				t.Fatalf("ends read again in the snapshot: %+v %v", again, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if ends, _ := trail.Ends(ctx, 1); ends.Head.Seq != 10 || ends.Anchor.Seq != 2 {
			t.Fatalf("after the snapshot: %+v", ends)
		}
		one := int64(1)
		if err := auditlog.Verify(ctx, trail, chainSealer, &one, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAuditTrimRefusesRowsSharingASeq: with the unique key on the seq
// dropped, a forged record hashed onto the record before it, at the seq
// of the last record of a trim's window, with a lower id than the genuine
// one (so that the genuine one falls just outside the window), and dated
// to be trimmed, is not trimmed (the anchor would move onto its hash): the
// trim refuses the chain, naming the row, as a broken chain, not as the
// database's failure.
func TestAuditTrimRefusesRowsSharingASeq(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		trail := dao.NewAuditLogs(db, chainSealer, zerolog.Nop())
		t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		recs := []auditlog.Record{auditRecord(1, 0, t0.Add(-48*time.Hour)), auditRecord(1, 1, t0)}
		if err := trail.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		drop := "DROP INDEX uniq_audit_logs_seq"
		if db.Name() == "mysql" {
			drop = "ALTER TABLE audit_logs DROP INDEX uniq_audit_logs_seq"
		}
		if err := db.Exec(drop).Error; err != nil {
			t.Fatal(err)
		}
		rows, err := trail.Entries(ctx, 1, 0, 10)
		if err != nil || len(rows) != 2 {
			t.Fatalf("rows: %+v %v", rows, err)
		}
		forged := auditRecord(1, 9, t0.Add(-47*time.Hour))
		hash := auditlog.Hash(rows[0].Hash, 1, 2, forged)
		if err := db.Exec("INSERT INTO audit_logs (tenant_id, seq, occurred_at, actor_kind, actor_id, client_addr, operation, target_type, target_id, result, request_id, prev_hash, hash) "+
			"VALUES (1, 2, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", forged.Time, forged.ActorKind, forged.ActorID, forged.ClientAddr,
			forged.Operation, forged.TargetType, forged.TargetID, forged.Result, forged.RequestID, rows[0].Hash, hash).Error; err != nil {
			t.Fatal(err)
		}
		// The genuine record at seq 2 gets an id above the forged one's.
		if err := db.Exec("UPDATE audit_logs SET id = 999999 WHERE id = ?", rows[1].ID).Error; err != nil {
			t.Fatal(err)
		}
		var b *auditlog.Broken
		n, err := trail.Trim(ctx, 1, t0.Add(-time.Hour), 2)
		if !errors.As(err, &b) || b.Seq != 2 || b.ID != 999999 || !strings.Contains(err.Error(), "shares its seq") || n != 0 ||
			strings.Contains(err.Error(), "DEPENDENCY_UNAVAILABLE") {
			t.Fatalf("trim of a window whose last seq two rows share: %d %v", n, err)
		}
		if ends, _ := trail.Ends(ctx, 1); ends.Anchor.Seq != 0 {
			t.Fatalf("the anchor moved: %+v", ends)
		}
	})
}
