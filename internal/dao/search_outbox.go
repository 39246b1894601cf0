package dao

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
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

// Claim leases up to limit due jobs, the tenants with due work taking
// turns: each gets an even share of the claim (its oldest due jobs, both
// kinds together in the order they fell due), and what the tenants with
// fewer due jobs leave goes to the others in the same order, the tenant
// whose oldest job waited longest first. One tenant's backlog, however
// old, thus never keeps another tenant's new jobs out of a claim, and a
// conversation job (a deletion) never waits for transcript jobs, as it did
// when the oldest jobs of one kind filled the claim before the other kind
// was looked at. When more tenants than limit have due work, those whose
// oldest job waited longest get a job each. The claim lists the tenants'
// first jobs first, then their second ones, and so on, and ends once its
// conversations hold claimSentences sentences: the indexer writes in that
// order, so what its lease cuts off is the longest shares' last jobs, and
// one tenant's long transcripts never make a claim too large to write
// within the lease.
//
// On MySQL, SELECT … FOR UPDATE SKIP LOCKED lets instances claim side by
// side without waiting for or double-taking each other's rows, in READ
// COMMITTED: under REPEATABLE READ the scan also locked the gaps where
// ingest inserts new jobs, and the UPDATE of the claimed ids locked every
// row between them, so claims and ingest deadlocked each other. Which
// tenants have due work is read first without locks, one index look per
// tenant and kind (idx_outbox_tenant_due: MySQL jumps from tenant to
// tenant, whatever their backlogs); each tenant's jobs are then read with
// locks, in the order of the same index, a share at a time. On SQLite
// (one process) the jobs are read plainly and a single UPDATE … RETURNING
// claims those still due.
func (o *SearchOutbox) Claim(ctx context.Context, limit int, lease time.Duration) ([]model.OutboxJob, error) {
	if limit <= 0 {
		return nil, nil
	}
	db := o.db.WithContext(ctx)
	now := dbNow()
	until := now.Add(lease)
	var jobs []model.OutboxJob
	var err error
	if db.Name() != "mysql" {
		// The reads take no lock; the update claims those still due (a
		// job another claim took meanwhile is left to it) in one
		// statement, holding the write lock no longer than that.
		var due []model.OutboxJob
		if due, err = fairDue(db, limit, now); err == nil && len(due) > 0 {
			err = db.Raw("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id IN ? AND next_attempt_at <= ? RETURNING *",
				until, jobIDs(due), now).Scan(&jobs).Error
		}
		if err != nil {
			return nil, dbError(err, nil)
		}
		// RETURNING lists them in no particular order: back in the claim's.
		place := make(map[int64]int, len(due))
		for i, j := range due {
			place[j.ID] = i
		}
		slices.SortFunc(jobs, func(a, b model.OutboxJob) int { return cmp.Compare(place[a.ID], place[b.ID]) })
		return jobs, nil
	}
	claim := func(tx *gorm.DB) error {
		var err error
		jobs, err = fairDue(tx, limit, now)
		if err != nil || len(jobs) == 0 {
			return err
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
	}
	// Claims updating the same indexes can still meet in them, or meet
	// ingest's inserts; the victim of such a deadlock runs again, as
	// InTx's do.
	for attempt := 1; ; attempt++ {
		jobs = nil
		err = db.Transaction(claim, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if attempt < txAttempts && isDeadlock(err) && ctx.Err() == nil {
			continue
		}
		break
	}
	if err != nil {
		return nil, dbError(err, nil)
	}
	return jobs, nil
}

// dueTenant is a tenant with due search jobs and the kinds it has due.
type dueTenant struct {
	id    int64
	kinds []string
	taken int  // jobs of this claim
	more  bool // it has more due jobs than it got
}

// tenantDue names the outbox with the index that reads a tenant's due jobs
// of a kind in order, by dialect (true: MySQL). The planners otherwise
// take idx_outbox_due for a tenant with few jobs, reading every other
// tenant's older jobs before its own.
var tenantDue = map[bool]string{
	true:  "outbox FORCE INDEX (idx_outbox_tenant_due)",
	false: "outbox INDEXED BY idx_outbox_tenant_due",
}

// fairDue reads up to limit due search jobs, the tenants taking turns (see
// Claim), locking them on MySQL.
func fairDue(tx *gorm.DB, limit int, now time.Time) ([]model.OutboxJob, error) {
	// Each tenant's kinds with due jobs, the tenant whose oldest due job
	// waited longest first.
	var heads []struct {
		Kind     string
		TenantID int64
	}
	err := tx.Model(&model.OutboxJob{}).Select("kind, tenant_id").
		Where("kind IN ? AND next_attempt_at <= ?", searchKinds, now).Group("kind").Group("tenant_id").
		Order("MIN(next_attempt_at), tenant_id, kind").Scan(&heads).Error
	if err != nil || len(heads) == 0 {
		return nil, err
	}
	byID := map[int64]*dueTenant{}
	var tenants []*dueTenant
	for _, h := range heads {
		d := byID[h.TenantID]
		if d == nil {
			d = &dueTenant{id: h.TenantID}
			byID[h.TenantID] = d
			tenants = append(tenants, d)
		}
		d.kinds = append(d.kinds, h.Kind)
	}
	tenants = tenants[:min(len(tenants), limit)]
	var jobs []model.OutboxJob
	taken := map[int64]bool{}
	// turn is where a job stands in the claim: its place among its
	// tenant's jobs, then its tenant's place.
	turn := map[int64][2]int{}
	order := map[*dueTenant]int{}
	for i, d := range tenants {
		order[d] = i
	}
	// take adds up to n more of a tenant's due jobs, oldest due first.
	take := func(d *dueTenant, n int) error {
		var part []model.OutboxJob
		for _, kind := range d.kinds {
			// The jobs taken already come first: this transaction holds
			// them, so they are read again. One more than n tells whether
			// the tenant has more.
			var rows []model.OutboxJob
			q := tx.Table(tenantDue[tx.Name() == "mysql"]).Where("kind = ? AND tenant_id = ? AND next_attempt_at <= ?", kind, d.id, now).
				Order("next_attempt_at").Order("id").Limit(d.taken + n + 1)
			if tx.Name() == "mysql" {
				q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
			}
			if err := q.Find(&rows).Error; err != nil {
				return err
			}
			for _, j := range rows {
				if !taken[j.ID] {
					part = append(part, j)
				}
			}
		}
		slices.SortFunc(part, func(a, b model.OutboxJob) int {
			if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
				return c
			}
			return cmp.Compare(a.ID, b.ID)
		})
		d.more = len(part) > n
		part = part[:min(len(part), n)]
		for i, j := range part {
			taken[j.ID] = true
			turn[j.ID] = [2]int{d.taken + i, order[d]}
		}
		d.taken += len(part)
		jobs = append(jobs, part...)
		return nil
	}
	// An even share each (the first ones one more, up to limit), then what
	// is left in turn to those that had more.
	share, extra := limit/len(tenants), limit%len(tenants)
	for i, d := range tenants {
		n := share
		if i < extra {
			n++
		}
		if err := take(d, n); err != nil {
			return nil, err
		}
	}
	for _, d := range tenants {
		if len(jobs) >= limit {
			break
		}
		if d.more {
			if err := take(d, limit-len(jobs)); err != nil {
				return nil, err
			}
		}
	}
	// The tenants' first jobs first, then their second ones, and so on:
	// the indexer writes in this order, and what the sentence budget
	// leaves out, or the lease cuts off, is the longest shares' last jobs.
	slices.SortFunc(jobs, func(a, b model.OutboxJob) int {
		ta, tb := turn[a.ID], turn[b.ID]
		if c := cmp.Compare(ta[0], tb[0]); c != 0 {
			return c
		}
		return cmp.Compare(ta[1], tb[1])
	})
	return withinBudget(tx, jobs)
}

// claimSentences bounds the sentences of the conversations a claim
// indexes (but a claim always takes its first job): 200 transcripts of
// 5,000 sentences are a quarter of a GB to read and write, more than a
// lease's time, while this is about as much as one bulk request holds.
const claimSentences = 100_000

// withinBudget keeps the first jobs whose conversations hold at most
// claimSentences sentences in all (a job of a conversation already
// counted costs nothing more; a conversation gone costs nothing).
func withinBudget(tx *gorm.DB, jobs []model.OutboxJob) ([]model.OutboxJob, error) {
	convs := make([]int64, len(jobs))
	for i, j := range jobs {
		convs[i] = j.ConversationID
	}
	var sizes []struct {
		ID            int64
		SentenceCount int
	}
	if err := tx.Model(&model.Conversation{}).Select("id, sentence_count").Where("id IN ?", convs).Scan(&sizes).Error; err != nil {
		return nil, err
	}
	cost := make(map[int64]int, len(sizes))
	for _, c := range sizes {
		cost[c.ID] = c.SentenceCount
	}
	sum := 0
	for i, j := range jobs {
		sum += cost[j.ConversationID]
		cost[j.ConversationID] = 0
		if i > 0 && sum > claimSentences {
			return jobs[:i], nil
		}
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
