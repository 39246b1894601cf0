package dao

import (
	"context"
	"database/sql"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/megaview/mgvcore/internal/model"
)

// searchKinds are the outbox kinds the search indexer consumes: a
// transcript replaced, or a conversation's metadata changed. Both re-index
// the whole conversation.
var searchKinds = []string{model.OutboxTranscript, model.OutboxConversation}

// SearchOutbox is the search indexer's view of the outbox. A job is leased
// by moving its next_attempt_at past the lease; it is deleted once indexed,
// and rescheduled with backoff when indexing fails, so none is ever dropped.
// A process that dies holding leases leaves them to expire: another
// instance, or the restarted one, takes the jobs again.
//
// Each claim counts an attempt, and the count a claim took the job with is
// its token: Done, Retry and Release act only on jobs still at that count.
// A worker that stalled past its lease (a pause, a slow disk, a partition
// from the database) while another claimed the job thus neither deletes it
// under the other claim nor moves that claim's lease; it is told how many
// it lost. A lease that ran out with nobody claiming since still finishes:
// the job is then still this claim's.
type SearchOutbox struct{ db *gorm.DB }

// NewSearchOutbox works on db.
func NewSearchOutbox(db *gorm.DB) *SearchOutbox { return &SearchOutbox{db: db} }

// Claim leases up to limit due jobs, oldest due first. On MySQL, SELECT …
// FOR UPDATE SKIP LOCKED lets instances claim side by side without waiting
// for or double-taking each other's rows, in READ COMMITTED: under
// REPEATABLE READ the scan also locked the gaps where ingest inserts new
// jobs, and the UPDATE of the claimed ids locked every row between them,
// so claims and ingest deadlocked each other. SQLite has one writer at a time:
// there a single UPDATE … RETURNING claims atomically.
func (o *SearchOutbox) Claim(ctx context.Context, limit int, lease time.Duration) ([]model.OutboxJob, error) {
	db := o.db.WithContext(ctx)
	now := dbNow()
	until := now.Add(lease)
	var jobs []model.OutboxJob
	var err error
	if db.Name() == "mysql" {
		err = db.Transaction(func(tx *gorm.DB) error {
			for _, kind := range searchKinds {
				// One kind at a time keeps each scan on idx_outbox_due.
				var part []model.OutboxJob
				err := tx.Where("kind = ? AND next_attempt_at <= ?", kind, now).
					Order("next_attempt_at").Order("id").Limit(limit - len(jobs)).
					Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked}).
					Find(&part).Error
				if err != nil {
					return err
				}
				jobs = append(jobs, part...)
				if len(jobs) >= limit {
					break
				}
			}
			if len(jobs) == 0 {
				return nil
			}
			if err := tx.Exec("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id IN ?", until, jobIDs(jobs)).Error; err != nil {
				return err
			}
			// The rows are locked: the claim's attempts count is the read's plus one.
			for i := range jobs {
				jobs[i].Attempts++
				jobs[i].NextAttemptAt = until
			}
			return nil
		}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	} else {
		for _, kind := range searchKinds {
			var part []model.OutboxJob
			err = db.Raw(`UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?
WHERE id IN (SELECT id FROM outbox WHERE kind = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?)
RETURNING *`, until, kind, now, limit-len(jobs)).Scan(&part).Error
			if err != nil {
				break
			}
			jobs = append(jobs, part...)
			if len(jobs) >= limit {
				break
			}
		}
	}
	if err != nil {
		return nil, dbError(err, nil)
	}
	return jobs, nil
}

func jobIDs(jobs []model.OutboxJob) []int64 {
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

// claimsOf is the claims of jobs, (id, attempts) pairs, for a row-value
// IN: each job as it was claimed.
func claimsOf(jobs []model.OutboxJob) [][]any {
	out := make([][]any, len(jobs))
	for i, j := range jobs {
		out[i] = []any{j.ID, j.Attempts}
	}
	return out
}

// Done deletes indexed jobs held by the claims that took them; lost counts
// those another claim took since (left to it: it indexes them again).
func (o *SearchOutbox) Done(ctx context.Context, jobs []model.OutboxJob) (lost int, err error) {
	if len(jobs) == 0 {
		return 0, nil
	}
	db := o.db.WithContext(ctx)
	res := db.Exec("DELETE FROM outbox WHERE id IN ? AND (id, attempts) IN ?", jobIDs(jobs), claimsOf(jobs))
	return lostClaims(db, jobs, res)
}

// Retry reschedules a job at a time of the caller's choosing, if the claim
// that took it holds it still (lost: another claim took it since, and
// nothing changed). With a cause the attempt failed: the cause is recorded
// and the job's failures grow by one; without one they go back to 0.
func (o *SearchOutbox) Retry(ctx context.Context, job model.OutboxJob, at time.Time, cause error) (lost bool, err error) {
	n, err := retryJob(o.db.WithContext(ctx), job, at, cause, 1000)
	return n > 0, err
}

// Release makes leased jobs due again now (a draining process hands them
// over instead of letting the lease run out), those its claims hold; lost
// counts those another claim took since.
func (o *SearchOutbox) Release(ctx context.Context, jobs []model.OutboxJob) (lost int, err error) {
	if len(jobs) == 0 {
		return 0, nil
	}
	db := o.db.WithContext(ctx)
	res := db.Exec("UPDATE outbox SET next_attempt_at = ? WHERE id IN ? AND (id, attempts) IN ?", dbNow(), jobIDs(jobs), claimsOf(jobs))
	return lostClaims(db, jobs, res)
}

// lostClaims counts, after res acted on the jobs their claims hold, those
// it passed over that are still queued: another claim holds them. Jobs
// gone meanwhile (superseded, or finished by a later claim) are not lost.
func lostClaims(db *gorm.DB, jobs []model.OutboxJob, res *gorm.DB) (int, error) {
	if res.Error != nil || res.RowsAffected >= int64(len(jobs)) {
		return 0, dbError(res.Error, nil)
	}
	var n int64
	err := db.Model(&model.OutboxJob{}).Where("id IN ? AND (id, attempts) NOT IN ?", jobIDs(jobs), claimsOf(jobs)).Count(&n).Error
	return int(n), dbError(err, nil)
}

// Backlog is the state of the search jobs: how many wait and since when the
// oldest one does (zero when none).
func (o *SearchOutbox) Backlog(ctx context.Context) (pending int64, oldest time.Time, err error) {
	db := o.db.WithContext(ctx).Model(&model.OutboxJob{}).Where("kind IN ?", searchKinds)
	if err := db.Count(&pending).Error; err != nil || pending == 0 {
		return 0, time.Time{}, dbError(err, nil)
	}
	var first []model.OutboxJob
	err = o.db.WithContext(ctx).Select("id, created_at").Where("kind IN ?", searchKinds).Order("id").Limit(1).Find(&first).Error
	if err != nil || len(first) == 0 {
		return pending, time.Time{}, dbError(err, nil)
	}
	return pending, first[0].CreatedAt, nil
}

// EnqueueTenant queues a re-index of every conversation of a tenant (0: of
// every tenant) and returns how many.
func (o *SearchOutbox) EnqueueTenant(ctx context.Context, tenantID int64) (int64, error) {
	if tenantID == 0 {
		return o.enqueueWhere(ctx, time.Time{}, "1 = 1")
	}
	return o.enqueueWhere(ctx, time.Time{}, "tenant_id = ?", tenantID)
}

// EnqueueUpdatedSince queues a re-index of the conversations changed since
// t (the catch-up after an index rebuild), due at due (zero: now).
func (o *SearchOutbox) EnqueueUpdatedSince(ctx context.Context, t, due time.Time) (int64, error) {
	return o.enqueueWhere(ctx, due, "updated_at >= ?", t.UTC())
}

// EnqueueConversations queues a re-index of the conversations ids, due now.
func (o *SearchOutbox) EnqueueConversations(ctx context.Context, ids []int64) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	return o.enqueueWhere(ctx, time.Time{}, "id IN ?", ids)
}

func (o *SearchOutbox) enqueueWhere(ctx context.Context, due time.Time, where string, args ...any) (int64, error) {
	now := dbNow()
	if due.IsZero() {
		due = now
	}
	q := "INSERT INTO outbox (tenant_id, kind, conversation_id, tracker_id, version, attempts, next_attempt_at, last_error, created_at) " +
		"SELECT tenant_id, ?, id, 0, transcript_version, 0, ?, '', ? FROM conversations WHERE " + where
	res := o.db.WithContext(ctx).Exec(q, append([]any{model.OutboxConversation, due.UTC(), now}, args...)...)
	return res.RowsAffected, dbError(res.Error, nil)
}
