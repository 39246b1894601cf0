package dao

import (
	"context"
	"slices"
	"strings"
	"time"

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
}

// NewAuditLogs works on db.
func NewAuditLogs(db *gorm.DB) *AuditLogs {
	return &AuditLogs{db: db, tx: NewTransactor(db),
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
}

func (auditHeadRow) TableName() string { return "audit_heads" }

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
func (a *AuditLogs) Append(ctx context.Context, recs []audit.Record) error {
	byTenant := map[int64][]audit.Record{}
	for _, r := range recs {
		byTenant[r.TenantID] = append(byTenant[r.TenantID], r)
	}
	tenants := make([]int64, 0, len(byTenant))
	for t := range byTenant {
		tenants = append(tenants, t)
	}
	slices.Sort(tenants)
	now := time.Now().UTC()
	return a.tx.InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, a.db)
		for _, t := range tenants {
			head, err := lockHead(db, t, now)
			if err != nil {
				return err
			}
			entries, next := audit.Chain(t, audit.Link{Seq: head.Seq, Hash: head.Hash}, byTenant[t])
			if err := a.insertEntries(ctx, db, entries); err != nil {
				return chainTaken(db, t, head.Seq, next.Seq, err)
			}
			if err := db.Model(&auditHeadRow{}).Where("tenant_id = ?", t).
				Updates(map[string]any{"seq": next.Seq, "hash": next.Hash, "updated_at": now}).Error; err != nil {
				return err
			}
		}
		return nil
	})
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

// lockHead creates the tenant's head when it has none and locks it.
func lockHead(db *gorm.DB, tenantID int64, now time.Time) (*auditHeadRow, error) {
	fresh := auditHeadRow{TenantID: tenantID, Hash: audit.Genesis, AnchorHash: audit.Genesis, TrimmedAt: now, UpdatedAt: now}
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&fresh).Error; err != nil {
		return nil, err
	}
	var head auditHeadRow
	err := db.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("tenant_id = ?", tenantID).Take(&head).Error
	return &head, err
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

// Tenants lists every tenant with a chain head or a record.
func (a *AuditLogs) Tenants(ctx context.Context) ([]int64, error) {
	var heads, logged []int64
	db := conn(ctx, a.db)
	if err := db.Model(&auditHeadRow{}).Pluck("tenant_id", &heads).Error; err != nil {
		return nil, dbError(err, nil)
	}
	if err := db.Model(&auditLogRow{}).Distinct("tenant_id").Pluck("tenant_id", &logged).Error; err != nil {
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
	h := rows[0]
	return audit.ChainEnds{
		Found:  true,
		Anchor: audit.Link{Seq: h.AnchorSeq, Hash: h.AnchorHash}, TrimmedAt: h.TrimmedAt.UTC(),
		Head: audit.Link{Seq: h.Seq, Hash: h.Hash}, HeadAt: h.UpdatedAt.UTC(),
	}, nil
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
	err := a.tx.InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, a.db)
		var heads []auditHeadRow
		if err := db.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
			Where("tenant_id = ?", tenantID).Limit(1).Find(&heads).Error; err != nil {
			return err
		}
		if len(heads) == 0 {
			return nil
		}
		head := heads[0]
		var rows []auditLogRow
		if err := db.Select("id", "seq", "occurred_at", "hash").Where("tenant_id = ? AND seq > ?", tenantID, head.AnchorSeq).
			Order("seq").Limit(limit).Find(&rows).Error; err != nil {
			return err
		}
		cut := 0
		for cut < len(rows) && rows[cut].OccurredAt.Before(before) && rows[cut].Seq == head.AnchorSeq+int64(cut)+1 {
			cut++
		}
		if cut == 0 {
			return nil
		}
		ids := make([]int64, cut)
		for i := range cut {
			ids[i] = rows[i].ID
		}
		res := db.Where("id IN ?", ids).Delete(&auditLogRow{})
		if res.Error != nil {
			return res.Error
		}
		last := rows[cut-1]
		n = res.RowsAffected
		return db.Model(&auditHeadRow{}).Where("tenant_id = ?", tenantID).Updates(map[string]any{
			"anchor_seq": last.Seq, "anchor_hash": last.Hash, "trimmed_at": time.Now().UTC(),
		}).Error
	})
	return n, err
}
