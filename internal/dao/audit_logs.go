package dao

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/megaview/mgvcore/internal/logic/audit"
)

// AuditLogs stores the audit trail: records hash-chained per tenant, and
// each chain's head and trim anchor.
type AuditLogs struct {
	db *gorm.DB
	tx *Transactor
	// insertFull is the INSERT of a full chunk (auditInsertRows rows),
	// prepared on MySQL.
	insertFull *preparedStatement
	// sealer seals each chain's ends as appends and trims move them.
	sealer audit.Sealer
	log    zerolog.Logger
	// unsealed holds the tenants whose ends were found without their seal,
	// logged once each until they carry it again.
	unsealed sync.Map
}

// NewAuditLogs works on db, sealing the chains' ends with sealer.
func NewAuditLogs(db *gorm.DB, sealer audit.Sealer, log zerolog.Logger) *AuditLogs {
	return &AuditLogs{db: db, tx: NewTransactor(db), sealer: sealer, log: log,
		insertFull: newPreparedStatement(db, insertAuditSQL(auditInsertRows(db.Name())))}
}

type auditLogRow struct {
	ID         int64 `gorm:"primaryKey"`
	TenantID   int64
	Seq        int64
	OccurredAt time.Time
	ActorKind  string
	ActorID    int64
	ClientAddr string
	Operation  string
	TargetType string
	TargetID   string
	Result     string
	RequestID  string
	PrevHash   string
	Hash       string
}

func (auditLogRow) TableName() string { return "audit_logs" }

func (r auditLogRow) entry() audit.Entry {
	return audit.Entry{ID: r.ID, Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, Record: audit.Record{
		Time: r.OccurredAt.UTC(), TenantID: r.TenantID, ActorKind: r.ActorKind, ActorID: r.ActorID,
		ClientAddr: r.ClientAddr, Operation: r.Operation, TargetType: r.TargetType, TargetID: r.TargetID,
		Result: r.Result, RequestID: r.RequestID,
	}}
}

type auditHeadRow struct {
	TenantID   int64 `gorm:"primaryKey;autoIncrement:false"`
	Seq        int64
	Hash       string
	AnchorSeq  int64
	AnchorHash string
	TrimmedAt  time.Time
	UpdatedAt  time.Time
	Seal       string
	SealedAt   *time.Time
}

func (auditHeadRow) TableName() string { return "audit_heads" }

func (h *auditHeadRow) ends() audit.ChainEnds {
	e := audit.ChainEnds{
		Found:  true,
		Anchor: audit.Link{Seq: h.AnchorSeq, Hash: h.AnchorHash}, TrimmedAt: h.TrimmedAt.UTC(),
		Head: audit.Link{Seq: h.Seq, Hash: h.Hash}, HeadAt: h.UpdatedAt.UTC(),
		Seal: h.Seal,
	}
	if h.SealedAt != nil {
		e.SealedAt = h.SealedAt.UTC()
	}
	return e
}

// sealNow is the time a seal begins: to the millisecond, as sealed_at
// keeps it.
func sealNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// reseal adds to upd, the update of a locked head row was that moves its
// ends to head and anchor, the seal of the new ends (since: when the old
// seal began) when the old ends carry theirs. Ends without a seal (a chain
// written before seals were kept, or its seal removed) or with one that
// does not match them keep what they have, so that `audit verify` still
// finds them: only `mgvcore audit seal`, which walks the chain first, seals
// them. Either is logged once per tenant and process.
func (a *AuditLogs) reseal(was *auditHeadRow, head, anchor audit.Link, upd map[string]any) {
	ends := was.ends()
	err := a.sealer.Check(was.TenantID, ends)
	if err == nil {
		if _, ok := a.unsealed.Load(was.TenantID); ok {
			a.unsealed.Delete(was.TenantID) // sealed since: log the next break again
		}
		upd["seal"] = a.sealer.Seal(was.TenantID, head, anchor, ends.SealedAt)
		return
	}
	if _, logged := a.unsealed.LoadOrStore(was.TenantID, true); !logged {
		a.log.Error().Err(err).Int64("tenant", was.TenantID).Int64("head_seq", ends.Head.Seq).Str("head_hash", ends.Head.Hash).
			Int64("anchor_seq", ends.Anchor.Seq).Msg("audit: a chain's ends do not carry their seal; records are appended and the seal is left as found " +
			"(written before seals were kept, audit.chain_key changed, or the ends were moved without it): run `mgvcore audit verify`, then `mgvcore audit seal`")
	}
}

// auditInsertRows bounds the rows of one INSERT: the SQLite driver binds
// arguments at a cost that grows with their number per statement, so it
// takes short statements.
func auditInsertRows(dialect string) int {
	if dialect == "mysql" {
		return 500
	}
	return 20
}

// Append adds records to their tenants' chains in one transaction. Each
// tenant's head row is created if missing and locked, in tenant order (so
// two instances never deadlock), before its records are placed after it;
// the lock holds until commit, so appends from every instance follow one
// another per tenant.
//
// A chain begun here (its head row created) is entered in the register of
// chains (audit.RegisterTenant) in the same transaction, so no chain is
// ever without its registration. The register's head is locked only when
// a tenant of the batch has no head row, and then first: its tenant id is
// below every tenant's, so the tenant order holds. A tenant the register
// holds already is a chain deleted whole and begun again: logged at error
// level, and registered a second time, which `audit verify` reports.
func (a *AuditLogs) Append(ctx context.Context, recs []audit.Record) error {
	byTenant := map[int64][]audit.Record{}
	for _, r := range recs {
		byTenant[r.TenantID] = append(byTenant[r.TenantID], r)
	}
	if _, ok := byTenant[audit.RegisterTenant]; ok {
		return fmt.Errorf("audit: tenant %d is the register of chains: it takes no record but a chain's registration", audit.RegisterTenant)
	}
	tenants := make([]int64, 0, len(byTenant))
	for t := range byTenant {
		tenants = append(tenants, t)
	}
	slices.Sort(tenants)
	now := sealNow()
	return a.tx.InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, a.db)
		var reg *auditHeadRow
		var have []int64
		if err := db.Model(&auditHeadRow{}).Where("tenant_id IN ?", tenants).Pluck("tenant_id", &have).Error; err != nil {
			return err
		}
		if len(have) < len(tenants) {
			var err error
			if reg, _, err = a.lockHead(db, audit.RegisterTenant, now); err != nil {
				return err
			}
		}
		var begun []int64
		for _, t := range tenants {
			head, fresh, err := a.lockHead(db, t, now)
			if err != nil {
				return err
			}
			if fresh {
				begun = append(begun, t)
			}
			if err := a.appendTo(ctx, db, head, byTenant[t], now); err != nil {
				return err
			}
		}
		if len(begun) == 0 {
			return nil
		}
		if reg == nil {
			// A head row deleted between the read above and its lock: the
			// register is locked after the tenants' heads, out of order,
			// and a deadlock this meets is retried as any failed append.
			var err error
			if reg, _, err = a.lockHead(db, audit.RegisterTenant, now); err != nil {
				return err
			}
		}
		regs := make([]audit.Record, 0, len(begun))
		for _, t := range begun {
			again, err := registered(db, t)
			if err != nil {
				return err
			}
			if again {
				a.log.Error().Int64("tenant", t).Msg("audit: a chain begins for a tenant whose chain the register of chains holds already: " +
					"its chain was deleted whole (its records and its head row) by someone who can write the database; " +
					"the new chain is registered again, and `mgvcore audit verify` reports it")
			}
			regs = append(regs, audit.RegisterRecord(t, audit.OpChainBegin, now))
		}
		return a.appendTo(ctx, db, reg, regs, now)
	})
}

// appendTo places recs after head, the locked head row of their chain, and
// moves the head (and its seal) to the last of them.
func (a *AuditLogs) appendTo(ctx context.Context, db *gorm.DB, head *auditHeadRow, recs []audit.Record, now time.Time) error {
	t := head.TenantID
	entries, next := audit.Chain(t, audit.Link{Seq: head.Seq, Hash: head.Hash}, recs)
	if err := a.insertEntries(ctx, db, entries); err != nil {
		return chainTaken(db, t, head.Seq, next.Seq, err)
	}
	upd := map[string]any{"seq": next.Seq, "hash": next.Hash, "updated_at": now}
	a.reseal(head, next, audit.Link{Seq: head.AnchorSeq, Hash: head.AnchorHash}, upd)
	return db.Model(&auditHeadRow{}).Where("tenant_id = ?", t).Updates(upd).Error
}

// registered reports whether the register of chains holds the chain of
// tenant. The register's head must be locked (so no registration is
// appended meanwhile); the read locks what it reads, so that on MySQL it
// sees the newest rows, not the transaction's snapshot. The register has
// one record per chain, read through the (tenant_id, seq) key's prefix.
func registered(db *gorm.DB, tenantID int64) (bool, error) {
	var ids []int64
	err := db.Model(&auditLogRow{}).Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
		Where("tenant_id = ? AND target_type = ? AND target_id = ?", audit.RegisterTenant, audit.TargetChain, strconv.FormatInt(tenantID, 10)).
		Limit(1).Pluck("id", &ids).Error
	return len(ids) > 0, err
}

// RegisterChain enters the chain of tenant, which must have a head, in the
// register of chains, unless it is there already (audit seal --force, for
// a chain written before the register was kept). It locks the register's
// head, then the tenant's, as Append does.
func (a *AuditLogs) RegisterChain(ctx context.Context, tenantID int64) error {
	if tenantID == audit.RegisterTenant {
		return fmt.Errorf("audit: tenant %d is the register of chains", tenantID)
	}
	now := sealNow()
	return dbError(a.tx.InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, a.db)
		reg, _, err := a.lockHead(db, audit.RegisterTenant, now)
		if err != nil {
			return err
		}
		head, err := lockExistingHead(db, tenantID)
		if err != nil {
			return err
		}
		if head == nil {
			return fmt.Errorf("tenant %d has no chain head to register", tenantID)
		}
		if again, err := registered(db, tenantID); err != nil || again {
			return err
		}
		return a.appendTo(ctx, db, reg, []audit.Record{audit.RegisterRecord(tenantID, audit.OpChainRegister, now)}, now)
	}), nil)
}

// chainTaken explains an insert that failed (err) while placing records
// of tenant after seq head up to seq last: when a record already holds one
// of those positions (no append wrote it: the head holds every append's
// last seq), it is an *audit.ChainTaken naming that record, which retrying
// cannot mend.
func chainTaken(db *gorm.DB, tenantID, head, last int64, err error) error {
	var rows []auditLogRow
	if qerr := db.Select("id", "seq").Where("tenant_id = ? AND seq > ? AND seq <= ?", tenantID, head, last).
		Order("seq").Limit(1).Find(&rows).Error; qerr != nil || len(rows) == 0 {
		return err
	}
	return &audit.ChainTaken{TenantID: tenantID, Head: head, Seq: rows[0].Seq, ID: rows[0].ID}
}

// auditColumns are the columns insertAuditEntries writes, in order.
const auditColumns = "tenant_id, seq, occurred_at, actor_kind, actor_id, client_addr, operation, target_type, target_id, result, request_id, prev_hash, hash"

// insertAuditSQL is the INSERT of rows audit records.
func insertAuditSQL(rows int) string {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return "INSERT INTO audit_logs (" + auditColumns + ") VALUES " + row + strings.Repeat(", "+row, rows-1)
}

// insertEntries writes entries in multi-row INSERTs of up to
// auditInsertRows rows. It builds the statement itself: gorm's per-row
// reflection cost more CPU than the database did, on the request path's
// cores. A full chunk, what a busy service writes, runs prepared on
// MySQL: its thousands of arguments then travel in the binary protocol,
// not escaped into the text by the driver and parsed again by the server,
// which took a third of the server's time per record.
func (a *AuditLogs) insertEntries(ctx context.Context, db *gorm.DB, entries []audit.Entry) error {
	rows := auditInsertRows(db.Name())
	for len(entries) > 0 {
		n := min(len(entries), rows)
		args := make([]any, 0, n*13)
		for _, e := range entries[:n] {
			args = append(args, e.TenantID, e.Seq, e.Time, e.ActorKind, e.ActorID, e.ClientAddr, e.Operation,
				e.TargetType, e.TargetID, e.Result, e.RequestID, e.PrevHash, e.Hash)
		}
		query, exec := insertAuditSQL(n), db
		if n == rows {
			query, exec = a.insertFull.query, a.insertFull.on(ctx, db)
		}
		if err := exec.Exec(query, args...).Error; err != nil {
			return err
		}
		entries = entries[n:]
	}
	return nil
}

// lockHead creates the tenant's head when it has none, sealed, and locks
// it; fresh says the chain begins here: its head, as locked, is at seq 0,
// which no committed head is (a head is created with the records that
// move it). Not the insert's count of rows: MySQL counts a duplicate the
// insert left alone as a row found.
func (a *AuditLogs) lockHead(db *gorm.DB, tenantID int64, now time.Time) (head *auditHeadRow, fresh bool, err error) {
	genesis := audit.Link{Hash: audit.Genesis}
	row := auditHeadRow{TenantID: tenantID, Hash: audit.Genesis, AnchorHash: audit.Genesis, TrimmedAt: now, UpdatedAt: now,
		Seal: a.sealer.Seal(tenantID, genesis, genesis, now), SealedAt: &now}
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return nil, false, err
	}
	head, err = lockExistingHead(db, tenantID)
	if err == nil && head == nil {
		// Deleted by hand between the insert and the lock.
		err = gorm.ErrRecordNotFound
	}
	if err != nil {
		return nil, false, err
	}
	fresh = head.Seq == 0 && head.AnchorSeq == 0
	if fresh {
		// A tenant's first record (Append registers the chain, and logs
		// a chain begun again at error level).
		if tenantID == audit.RegisterTenant {
			a.log.Info().Msg("audit: the register of chains begins")
		} else {
			a.log.Info().Int64("tenant", tenantID).Msg("audit: a chain begins")
		}
	}
	return head, fresh, nil
}

// lockExistingHead locks the tenant's head row, nil when it has none.
func lockExistingHead(db *gorm.DB, tenantID int64) (*auditHeadRow, error) {
	var heads []auditHeadRow
	if err := db.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
		Where("tenant_id = ?", tenantID).Limit(1).Find(&heads).Error; err != nil {
		return nil, err
	}
	if len(heads) == 0 {
		return nil, nil
	}
	return &heads[0], nil
}

// List returns a tenant's records matching q, newest first, and the number
// that match in all.
func (a *AuditLogs) List(ctx context.Context, q audit.Query) ([]audit.Entry, int64, error) {
	db := conn(ctx, a.db).Model(&auditLogRow{}).Where("tenant_id = ?", q.TenantID)
	for col, v := range map[string]string{
		"actor_kind": q.ActorKind, "operation": q.Operation, "target_type": q.TargetType,
		"target_id": q.TargetID, "result": q.Result,
	} {
		if v != "" {
			db = db.Where(col+" = ?", v)
		}
	}
	if q.ActorID != 0 {
		db = db.Where("actor_id = ?", q.ActorID)
	}
	if !q.From.IsZero() {
		db = db.Where("occurred_at >= ?", q.From.UTC())
	}
	if !q.To.IsZero() {
		db = db.Where("occurred_at < ?", q.To.UTC())
	}
	var total int64
	if err := db.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, dbError(err, nil)
	}
	page := db
	if q.BeforeSeq > 0 {
		page = page.Where("seq < ?", q.BeforeSeq)
	}
	var rows []auditLogRow
	if err := page.Order("seq DESC").Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, 0, dbError(err, nil)
	}
	out := make([]audit.Entry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	return out, total, nil
}

// Tenants lists every tenant with a chain head or a record, but the
// register of chains.
func (a *AuditLogs) Tenants(ctx context.Context) ([]int64, error) {
	var heads, logged []int64
	db := conn(ctx, a.db)
	if err := db.Model(&auditHeadRow{}).Where("tenant_id <> ?", audit.RegisterTenant).Pluck("tenant_id", &heads).Error; err != nil {
		return nil, dbError(err, nil)
	}
	if err := db.Model(&auditLogRow{}).Where("tenant_id <> ?", audit.RegisterTenant).Distinct("tenant_id").Pluck("tenant_id", &logged).Error; err != nil {
		return nil, dbError(err, nil)
	}
	all := append(heads, logged...)
	slices.Sort(all)
	return slices.Compact(all), nil
}

// Ends returns a tenant's anchor and head.
func (a *AuditLogs) Ends(ctx context.Context, tenantID int64) (audit.ChainEnds, error) {
	var rows []auditHeadRow
	if err := conn(ctx, a.db).Where("tenant_id = ?", tenantID).Limit(1).Find(&rows).Error; err != nil {
		return audit.ChainEnds{}, dbError(err, nil)
	}
	if len(rows) == 0 {
		genesis := audit.Link{Hash: audit.Genesis}
		return audit.ChainEnds{Anchor: genesis, Head: genesis}, nil
	}
	return rows[0].ends(), nil
}

// Entries returns up to limit of a tenant's records after seq, in order.
func (a *AuditLogs) Entries(ctx context.Context, tenantID, afterSeq int64, limit int) ([]audit.Entry, error) {
	var rows []auditLogRow
	if err := conn(ctx, a.db).Where("tenant_id = ? AND seq > ?", tenantID, afterSeq).
		Order("seq").Limit(limit).Find(&rows).Error; err != nil {
		return nil, dbError(err, nil)
	}
	out := make([]audit.Entry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	return out, nil
}

// Trim deletes up to limit of the tenant's oldest records written before
// before: the longest such prefix of its chain, so the chain stays whole,
// with the anchor moved to the last record deleted. It runs in one
// transaction holding the head, as appends do.
func (a *AuditLogs) Trim(ctx context.Context, tenantID int64, before time.Time, limit int) (int64, error) {
	var n int64
	var broken error // returned as it is, not as the database's
	err := a.tx.InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, a.db)
		head, err := lockExistingHead(db, tenantID)
		if err != nil || head == nil {
			return err
		}
		// One row past the window, so that a row sharing the seq of the
		// window's last one is seen too.
		var rows []auditLogRow
		if err := db.Where("tenant_id = ? AND seq > ?", tenantID, head.AnchorSeq).
			Order("seq, id").Limit(limit + 1).Find(&rows).Error; err != nil {
			return err
		}
		for i := 1; i < len(rows); i++ {
			if rows[i].Seq == rows[i-1].Seq {
				broken = fmt.Errorf("audit: not trimmed: %w", &audit.Broken{TenantID: tenantID, ID: rows[i].ID, Seq: rows[i].Seq,
					Why: fmt.Sprintf("shares its seq with record id %d", rows[i-1].ID)})
				return broken
			}
		}
		rows = rows[:min(len(rows), limit)]
		cut := 0
		for cut < len(rows) && rows[cut].OccurredAt.Before(before) && rows[cut].Seq == head.AnchorSeq+int64(cut)+1 {
			cut++
		}
		if cut == 0 {
			return nil
		}
		// The records go only as the chain from the anchor: a record
		// whose time was moved back (to have it trimmed) no longer hashes
		// to what it says, and the seal is never moved over it.
		v := audit.NewVerifier(tenantID, audit.Link{Seq: head.AnchorSeq, Hash: head.AnchorHash})
		ids := make([]int64, cut)
		for i := range cut {
			if err := v.Next(rows[i].entry()); err != nil {
				broken = fmt.Errorf("audit: not trimmed: %w", err)
				return broken
			}
			ids[i] = rows[i].ID
		}
		res := db.Where("id IN ?", ids).Delete(&auditLogRow{})
		if res.Error != nil {
			return res.Error
		}
		last := rows[cut-1]
		n = res.RowsAffected
		upd := map[string]any{"anchor_seq": last.Seq, "anchor_hash": last.Hash, "trimmed_at": time.Now().UTC()}
		a.reseal(head, audit.Link{Seq: head.Seq, Hash: head.Hash}, audit.Link{Seq: last.Seq, Hash: last.Hash}, upd)
		return db.Model(&auditHeadRow{}).Where("tenant_id = ?", tenantID).Updates(upd).Error
	})
	if broken != nil {
		return 0, broken
	}
	return n, err
}

// Snapshot runs fn in a read-only transaction whose reads see one
// consistent snapshot (see snapshot).
func (a *AuditLogs) Snapshot(ctx context.Context, fn func(ctx context.Context) error) error {
	return snapshot(ctx, a.db, fn)
}

// Reseal seals a tenant's chain's ends as they stand, beginning a new seal,
// once check accepts them, and returns them sealed. check runs in the
// transaction that holds the head (ctx carries it, for reading records)
// and is given the ends as locked.
func (a *AuditLogs) Reseal(ctx context.Context, tenantID int64, check func(ctx context.Context, cur audit.ChainEnds) error) (audit.ChainEnds, error) {
	var sealed audit.ChainEnds
	var checkErr error // returned as it is, not as the database's
	err := a.tx.InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, a.db)
		head, err := lockExistingHead(db, tenantID)
		if err != nil {
			return err
		}
		if head == nil {
			return fmt.Errorf("tenant %d has no chain head to seal", tenantID)
		}
		cur := head.ends()
		if checkErr = check(ctx, cur); checkErr != nil {
			return checkErr
		}
		since := sealNow()
		cur.SealedAt = since
		cur.Seal = a.sealer.Seal(tenantID, cur.Head, cur.Anchor, since)
		if err := db.Model(&auditHeadRow{}).Where("tenant_id = ?", tenantID).
			Updates(map[string]any{"seal": cur.Seal, "sealed_at": since}).Error; err != nil {
			return err
		}
		sealed = cur
		return nil
	})
	if checkErr != nil {
		return audit.ChainEnds{}, checkErr
	}
	if err != nil {
		return audit.ChainEnds{}, err
	}
	a.unsealed.Delete(tenantID)
	return sealed, nil
}
