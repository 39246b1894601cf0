package dao

import (
	"context"
	"database/sql"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/megaview/mgvcore/internal/clip"
	"github.com/megaview/mgvcore/internal/model"
)

// TrackerJobs is the queue of tracker re-applications: outbox rows of the
// kinds model.OutboxTrackerKinds. On such a row, version is the tracker
// version to apply and conversation_id is the progress cursor: every
// conversation of the tenant up to that id has been matched already.
type TrackerJobs struct {
	db *gorm.DB
	// changed, when set, hears of each batch's hit counts in its
	// transaction.
	changed HitsChangedFunc
}

// NewTrackerJobs works on db.
func NewTrackerJobs(db *gorm.DB) *TrackerJobs { return &TrackerJobs{db: db} }

// HitsChangedFunc is told, in the transaction of a batch (ctx carries it),
// the tracker's hit counts in the batch's conversations before and after
// the batch, by conversation id (absent: none).
type HitsChangedFunc = func(ctx context.Context, tenantID, trackerID int64, before, after map[int64]int) error

// OnHitsChanged makes every batch call fn last in its transaction; an
// error of fn rolls the batch back.
func (r *TrackerJobs) OnHitsChanged(fn HitsChangedFunc) { r.changed = fn }

// sentenceBudget bounds the sentences one batch loads: a batch stops
// adding conversations once it holds this many (but always takes one).
const sentenceBudget = 20_000

// ClaimTrackerJob leases the oldest due job and takes its tenant's turn:
// the tenant's other due jobs move to the back of the line (due now), so
// the next claims, here or on another instance, serve the other tenants'
// due jobs first. Tenants thus take turns a job at a time, and one that
// queued hundreds of jobs delays another's by at most a job per worker.
//
// On MySQL, FOR UPDATE SKIP LOCKED lets concurrent workers pass each
// other's candidates and never wait, so claims cannot deadlock; on SQLite
// (one process) the candidate is read plainly. Either way the lease is
// taken by an update guarded on the attempts counter, so only one of two
// racing workers gets the job. The count the claim leaves on the job is
// its token: its batches, FinishTrackerJob and RetryTrackerJob act only
// while the job is still at that count, that is, while no later claim
// took it.
func (r *TrackerJobs) ClaimTrackerJob(ctx context.Context, lease time.Duration) (*model.OutboxJob, error) {
	var claimed *model.OutboxJob
	claim := func(db *gorm.DB) error {
		now := dbNow()
		due := func(q *gorm.DB, kinds ...string) *gorm.DB {
			q = q.Model(&model.OutboxJob{}).Where("kind IN ? AND next_attempt_at <= ?", kinds, now)
			if db.Name() == "mysql" {
				q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
			}
			return q
		}
		// One kind at a time, each read in the order of idx_outbox_due: the
		// jobs earlier versions wrote first, few and only while they
		// still run beside this one.
		var jobs []model.OutboxJob
		for _, kind := range model.OutboxTrackerKinds {
			if err := due(db, kind).Order("next_attempt_at").Order("id").Limit(1).Find(&jobs).Error; err != nil {
				return err
			}
			if len(jobs) > 0 {
				break
			}
		}
		if len(jobs) == 0 {
			return nil
		}
		job := jobs[0]
		// The turn goes first: on SQLite, outside a transaction, a failure
		// here leaves the job unclaimed rather than leased and dropped. The
		// update keeps to jobs still due: one another worker leased since
		// the read keeps its lease.
		var rest []int64
		if err := due(db, model.OutboxTrackerKinds...).Where("tenant_id = ? AND id <> ?", job.TenantID, job.ID).Pluck("id", &rest).Error; err != nil {
			return err
		}
		if len(rest) > 0 {
			err := db.Exec("UPDATE outbox SET next_attempt_at = ? WHERE id IN ? AND next_attempt_at <= ?", now, rest, now).Error
			if err != nil {
				return err
			}
		}
		res := db.Exec("UPDATE outbox SET attempts = ?, next_attempt_at = ? WHERE id = ? AND attempts = ?",
			job.Attempts+1, now.Add(lease), job.ID, job.Attempts)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		job.Attempts++
		job.NextAttemptAt = now.Add(lease)
		claimed = &job
		return nil
	}
	db := r.db.WithContext(ctx)
	var err error
	if db.Name() == "mysql" {
		// READ COMMITTED: the locking reads keep no lock on the rows they
		// pass over (other tenants' jobs, leased ones), nor on gaps. Two
		// claims moving a tenant's jobs at once can still meet in the
		// index they both update; the victim of such a deadlock runs
		// again, as InTx's do.
		for attempt := 1; ; attempt++ {
			claimed = nil
			err = db.Transaction(claim, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
			if attempt < txAttempts && isDeadlock(err) && ctx.Err() == nil {
				continue
			}
			break
		}
	} else {
		err = claim(db)
	}
	return claimed, dbError(err, nil)
}

// ApplyTrackerBatch re-applies the job's tracker to the next batch of the
// tenant's conversations, in one transaction:
//
//  1. Renew the lease, unless it ran out or another claim took the job
//     (LeaseLost: nothing is written). This write comes first: on SQLite it takes the write
//     lock before anything is read; on MySQL it locks the job row, so a
//     tracker change (which deletes the older jobs) waits for the batch and
//     then queues a job that redoes it.
//  2. Lock the batch's conversation rows (shared, MySQL), so a transcript
//     being written to one of them commits first; its sentences are then
//     read here, and the hits written here follow them. On SQLite the
//     write lock serializes the two already.
//  3. Read the tracker: deleted → TrackerGone; another version → Superseded.
//  4. Match, replace the tracker's hits in the batch, move the cursor.
//
// MySQL runs it in READ COMMITTED, so each read sees what committed before
// it (the transcripts it waited for) and the deletes take no gap locks
// that would stall transcript writes.
func (r *TrackerJobs) ApplyTrackerBatch(ctx context.Context, job *model.OutboxJob, size int, lease time.Duration,
	match func(*model.Tracker, []model.Sentence, []model.Participant) []model.TrackerHit,
) (model.TrackerBatch, error) {
	var (
		out   model.TrackerBatch
		after *afterCommit
	)
	err := r.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		after = nil
		// The claim's attempt count is its token: a claim after the lease
		// ran out counted another.
		at := dbNow()
		renew := db.Exec("UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND attempts = ? AND next_attempt_at > ?",
			at.Add(lease), job.ID, job.Attempts, at)
		if renew.Error != nil {
			return renew.Error
		}
		var cursor []int64
		if err := db.Model(&model.OutboxJob{}).Where("id = ?", job.ID).Pluck("conversation_id", &cursor).Error; err != nil {
			return err
		}
		switch {
		case len(cursor) == 0:
			out.Superseded = true // a tracker change replaced the job
			return nil
		case renew.RowsAffected == 0:
			out.LeaseLost = true
			return nil
		}
		convs, err := nextConversations(db, job.TenantID, cursor[0], size)
		if err != nil {
			return err
		}
		var trackers []model.Tracker
		if err := db.Where("id = ? AND tenant_id = ?", job.TrackerID, job.TenantID).Limit(1).Find(&trackers).Error; err != nil {
			return err
		}
		switch {
		case len(trackers) == 0 || trackers[0].DeletedAt != nil:
			out.TrackerGone = true
			return nil
		case trackers[0].Version != job.Version:
			out.Superseded = true
			return nil
		case len(convs) == 0:
			out.Done = true
			return nil
		}
		hits, err := matchBatch(db, job.TenantID, convs, func(s []model.Sentence, p []model.Participant) []model.TrackerHit {
			return match(&trackers[0], s, p)
		})
		if err != nil {
			return err
		}
		var before map[int64]int
		if r.changed != nil {
			if before, err = hitCounts(db, job.TenantID, job.TrackerID, convs); err != nil {
				return err
			}
		}
		if err := replaceTrackerHits(db, job.TenantID, job.TrackerID, convs, hits); err != nil {
			return err
		}
		last := convs[len(convs)-1]
		if err := db.Exec("UPDATE outbox SET conversation_id = ? WHERE id = ?", last, job.ID).Error; err != nil {
			return err
		}
		job.ConversationID = last
		out.Conversations = len(convs)
		if r.changed == nil {
			return nil
		}
		now := map[int64]int{}
		for _, h := range hits {
			now[h.ConversationID]++
		}
		var txCtx context.Context
		txCtx, after = withTx(ctx, db)
		return r.changed(txCtx, job.TenantID, job.TrackerID, before, now)
	}, &sql.TxOptions{Isolation: sql.LevelReadCommitted}) // SQLite ignores the level: it is serializable
	if err == nil && after != nil {
		after.run()
	}
	return out, dbError(err, nil)
}

// hitCounts counts a tracker's hits in each of the conversations that
// has some.
func hitCounts(db *gorm.DB, tenantID, trackerID int64, conversationIDs []int64) (map[int64]int, error) {
	var rows []struct {
		ConversationID int64
		N              int
	}
	err := db.Raw("SELECT conversation_id, COUNT(*) AS n FROM tracker_hits WHERE tenant_id = ? AND tracker_id = ? AND conversation_id IN ? GROUP BY conversation_id",
		tenantID, trackerID, conversationIDs).Scan(&rows).Error
	out := make(map[int64]int, len(rows))
	for _, r := range rows {
		out[r.ConversationID] = r.N
	}
	return out, err
}

// nextConversations picks and locks the ids of the next batch after cursor.
func nextConversations(db *gorm.DB, tenantID, cursor int64, size int) ([]int64, error) {
	var rows []struct {
		ID            int64
		SentenceCount int
	}
	err := db.Raw("SELECT id, sentence_count FROM conversations WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?"+shareMode(db),
		tenantID, cursor, size).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(rows))
	sentences := 0
	for _, c := range rows {
		if len(ids) > 0 && sentences+c.SentenceCount > sentenceBudget {
			break
		}
		sentences += c.SentenceCount
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// matchBatch loads the transcripts and speakers of conversations and
// matches each one.
func matchBatch(db *gorm.DB, tenantID int64, ids []int64, match func([]model.Sentence, []model.Participant) []model.TrackerHit) ([]model.TrackerHit, error) {
	sentences, err := readSentences(db, tenantID, ids)
	if err != nil {
		return nil, err
	}
	var participants []model.Participant
	if err := db.Where("conversation_id IN ? AND tenant_id = ?", ids, tenantID).Find(&participants).Error; err != nil {
		return nil, err
	}
	speakers := map[int64][]model.Participant{}
	for _, p := range participants {
		speakers[p.ConversationID] = append(speakers[p.ConversationID], p)
	}
	var hits []model.TrackerHit
	for start := 0; start < len(sentences); {
		id := sentences[start].ConversationID
		end := start
		for end < len(sentences) && sentences[end].ConversationID == id {
			end++
		}
		hits = append(hits, match(sentences[start:end], speakers[id])...)
		start = end
	}
	return hits, nil
}

// PurgeTrackerHits deletes at most limit hits of a tracker.
func (r *TrackerJobs) PurgeTrackerHits(ctx context.Context, tenantID, trackerID int64, limit int) (int, error) {
	return purgeTrackerHits(r.db.WithContext(ctx), tenantID, trackerID, limit)
}

// FinishTrackerJob deletes a job, if the claim that took it holds it
// still: the job's attempts are the claim's. A lease that ran out with no
// claim since still finishes. Lost: another claim took the job since and
// may be mid-way (a tracker change's remaining conversations); it is left
// to that claim. A job already gone (superseded) is not lost.
func (r *TrackerJobs) FinishTrackerJob(ctx context.Context, job *model.OutboxJob) (lost bool, err error) {
	db := r.db.WithContext(ctx)
	n, err := lostClaims(db, []model.OutboxJob{*job},
		db.Exec("DELETE FROM outbox WHERE id = ? AND attempts = ?", job.ID, job.Attempts))
	return n > 0, err
}

// RetryTrackerJob makes a job due at at, if the claim that took it holds it
// still (lost, as FinishTrackerJob's: then nothing changes, and the other
// claim's lease stands). With a cause the attempt failed: the cause is
// recorded and the job's failures grow by one. Without one (a turn handed
// back, a run interrupted) its failures go back to 0.
func (r *TrackerJobs) RetryTrackerJob(ctx context.Context, job *model.OutboxJob, at time.Time, cause error) (lost bool, err error) {
	n, err := retryJob(r.db.WithContext(ctx), *job, at, cause, 1024)
	return n > 0, err
}

// retryJob reschedules a claimed job as RetryTrackerJob and
// SearchOutbox.Retry say, keeping at most errorBytes of the cause.
func retryJob(db *gorm.DB, job model.OutboxJob, at time.Time, cause error, errorBytes int) (lost int, err error) {
	at = at.UTC().Truncate(time.Millisecond)
	var res *gorm.DB
	if cause == nil {
		res = db.Exec("UPDATE outbox SET next_attempt_at = ?, failures = 0 WHERE id = ? AND attempts = ?", at, job.ID, job.Attempts)
	} else {
		res = db.Exec("UPDATE outbox SET next_attempt_at = ?, last_error = ?, failures = failures + 1 WHERE id = ? AND attempts = ?",
			at, clip.String(cause.Error(), errorBytes), job.ID, job.Attempts)
	}
	return lostClaims(db, []model.OutboxJob{job}, res)
}

// RequeueEarlierRule queues, in one transaction, the application of up to
// limit trackers whose match_rule is below model.TrackerMatchRule to every
// conversation of their tenant, by this version's rule: their hits are
// what an earlier rule found. It returns how many such trackers it read
// (fewer than limit: none is left) and how many of them it queued.
//
// A tracker is taken by raising its match_rule under its row's lock, and
// queued only by the one transaction whose raise changed the row: instances
// that start at once, or the two processes of an upgrade, read the same
// trackers but queue each once. Its pending jobs, of either kind, give way
// to the new one for its current version, which only this version claims;
// a deleted tracker's purge runs on, its rule raised alone. Nothing is
// bumped that a reader sees: the tracker keeps its version, and applying is
// true until the job is done.
func (r *TrackerJobs) RequeueEarlierRule(ctx context.Context, limit int) (read, queued int, err error) {
	err = NewTransactor(r.db).InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, r.db)
		read, queued = 0, 0
		var ids []int64
		err := db.Model(&model.Tracker{}).Where("match_rule < ?", model.TrackerMatchRule).
			Order("match_rule").Order("id").Limit(limit).Pluck("id", &ids).Error
		if err != nil {
			return err
		}
		read = len(ids)
		for _, id := range ids {
			res := db.Exec("UPDATE trackers SET match_rule = ? WHERE id = ? AND match_rule < ?", model.TrackerMatchRule, id, model.TrackerMatchRule)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				continue // another instance took it
			}
			var t model.Tracker
			if err := db.Where("id = ?", id).Take(&t).Error; err != nil {
				return err
			}
			if t.DeletedAt != nil {
				continue
			}
			if err := replaceTrackerJobs(db, t.TenantID, t.ID, t.Version, t.Version); err != nil {
				return err
			}
			queued++
		}
		return nil
	})
	return read, queued, dbError(err, nil)
}
