package privacy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// Purger deletes conversations of a tenant (conversation.Deleter).
type Purger interface {
	// Purge returns the ids of the conversations it deleted.
	Purge(ctx context.Context, tenantID int64, ids []int64) ([]int64, error)
}

// RunnerOptions tune the erasure runner.
type RunnerOptions struct {
	// Batch is the conversations deleted per transaction.
	Batch int
	// Lease is how long a claim lasts without progress; another instance
	// takes the job over after it (a killed process).
	Lease time.Duration
	// Poll is how often an idle runner looks for jobs.
	Poll time.Duration
	// ConfirmWithin is how long a job waits for its confirmation before
	// it ends failed, its subject forgotten (0: for ever).
	ConfirmWithin time.Duration
	// Audit takes a record of each job's end (nil: none), naming the job,
	// never the person.
	Audit audit.Recorder
	// Settle is how long after a deletion every instance may still hold a
	// copy of the deleted words that this one cannot clear directly (the
	// search indexer's kept transcripts, search.Indexer.RecentBound). A job
	// that deleted conversations waits it out, holding its lease, before it
	// reports done and appends person.erased: done means gone everywhere.
	Settle time.Duration
	// Refresher, when the search engine shows its writes only at its
	// next refresh (Elasticsearch), is refreshed once the index has
	// removed the job's conversations, before the job is done; nil when
	// writes are searchable as soon as they are made.
	Refresher Refresher
	// RefreshEvery is the search engine's own refresh interval
	// (search.refresh_interval). When Refresher keeps failing (an engine
	// that refuses refreshes to this service's role), the removals are
	// searchable anyway two intervals after they were made, and the job
	// goes on then.
	RefreshEvery time.Duration
	// IndexPoll is how often a job waiting for the search index to remove
	// its conversations looks at the outbox (default 250 ms).
	IndexPoll time.Duration
	// Workers is how many jobs the runner works at once (default 4). A
	// job waiting for the search index waits as long as the engine is
	// down, and holds only its own worker meanwhile (and one of its
	// tenant's PerTenant).
	Workers int
	// PerTenant is how many of one tenant's jobs are leased at once,
	// across every instance (default half of Workers, at least 1): a
	// tenant that requests a batch of erasures over a large history
	// leaves the other workers to the other tenants' jobs.
	PerTenant int
	// Turn is how long a worker works one job before it hands the job
	// back, due at once, and claims again (default 30 s): a job over a
	// large history takes turns with other tenants' jobs rather than
	// holding a worker until it is done. It hands back only between the
	// batches that record where it stands (its deletions, its first
	// reading for mentions), so the next claim goes on from there.
	Turn time.Duration
	// ConfirmOver is privacy.confirm_over: a job that finds more
	// conversations to delete than its total, and would then delete more
	// than this, goes back to awaiting confirmation with the new total.
	ConfirmOver int64
	// Store clears the database's own copies of deleted rows (dao.WAL:
	// the embedded SQLite store's WAL) before a job is done; nil when it
	// keeps none that need clearing.
	Store Scrubber
}

// Scrubber clears what a database keeps of deleted rows beside its tables
// (dao.WAL); it runs outside any transaction.
type Scrubber interface {
	Truncate(ctx context.Context) error
}

// Refresher makes every write to the search engine so far searchable
// (search.Refresher).
type Refresher interface {
	Refresh(ctx context.Context) error
}

// indexBehind is how long a job may wait for the search index before it
// warns, once: the indexer is failing (the engine is down) or far behind.
const indexBehind = time.Minute

// Runner works on erasure jobs in the background, in every instance: it
// claims a due job with a lease, deletes its conversations in bounded
// batches (recording the progress and renewing the lease after each),
// anonymises the internal user, and ends the job. A job whose holder dies
// is taken over when the lease runs out and resumes: what was deleted is
// gone, so the next batch is what is left. A job deletes only
// conversations up to its bound, and never more than its total: the
// number it was started, or confirmed, for. Tenants take turns: a claim
// leases at most PerTenant of a tenant's jobs, and a job hands its worker
// back at the end of its Turn and resumes, as a job taken over does.
type Runner struct {
	repo   Repo
	purger Purger
	revoke Revoker
	tx     Transactor
	hooks  []ErasedHook
	o      RunnerOptions
	log    zerolog.Logger
	owner  string

	wake chan struct{}
	bg   *background
	// siblings are the other workers: runners over the same options,
	// each claiming jobs under an owner of its own, so that no two of
	// them ever hold one job.
	siblings []*Runner
	// sweeps is set on the first worker alone: it ends the jobs left
	// unconfirmed, once per instance rather than once per worker.
	sweeps bool
	// turnEnds is when the job this worker claimed last is to hand its
	// worker back (RunnerOptions.Turn).
	turnEnds time.Time
}

// NewRunner makes a runner; hooks run in the transaction ending each job.
func NewRunner(repo Repo, purger Purger, revoke Revoker, tx Transactor, o RunnerOptions, log zerolog.Logger, hooks ...ErasedHook) *Runner {
	if o.Batch <= 0 {
		o.Batch = 50
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.IndexPoll <= 0 {
		o.IndexPoll = 250 * time.Millisecond
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.PerTenant <= 0 {
		o.PerTenant = max(o.Workers/2, 1)
	}
	if o.Turn <= 0 {
		o.Turn = 30 * time.Second
	}
	worker := func() *Runner {
		return &Runner{repo: repo, purger: purger, revoke: revoke, tx: tx, hooks: hooks, o: o, log: log,
			owner: newOwner(), wake: make(chan struct{}, 1), bg: newBackground()}
	}
	r := worker()
	r.sweeps = true
	for range o.Workers - 1 {
		r.siblings = append(r.siblings, worker())
	}
	return r
}

// workers are the runner and its siblings.
func (r *Runner) workers() []*Runner { return append([]*Runner{r}, r.siblings...) }

// Notify wakes the idle workers; it never blocks.
func (r *Runner) Notify() {
	for _, w := range r.workers() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Start runs the workers in the background until Stop.
func (r *Runner) Start() {
	for _, w := range r.workers() {
		w.bg.start(w.run)
	}
}

// Stop ends the workers. A batch in progress commits or rolls back, and
// each job is handed back, so the next process (the new one of an
// upgrade) resumes it at once; after a kill it resumes when the lease runs
// out.
func (r *Runner) Stop() {
	for _, w := range r.workers() {
		w.bg.halt()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, w := range r.workers() {
		if err := r.repo.ReleaseErasures(ctx, w.owner); err != nil {
			r.log.Warn().Err(err).Msg("erasure: cannot hand the job back; it resumes after its lease")
		}
	}
}

func (r *Runner) run(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(r.o.Poll)
	defer t.Stop()
	// Unconfirmed jobs are looked for every minute, or every tenth of
	// ConfirmWithin when that is shorter.
	var expired time.Time
	every := min(time.Minute, max(r.o.ConfirmWithin/10, time.Second))
	for {
		if r.sweeps && time.Since(expired) >= every {
			expired = time.Now()
			if err := r.ExpireUnconfirmed(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn().Err(err).Msg("erasure: cannot end the jobs left unconfirmed; tried again in a minute")
			}
		}
		for {
			worked, err := r.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.Warn().Err(err).Msg("erasure: a job failed for now; it is retried after its lease")
			}
			if !worked || err != nil {
				break
			}
		}
		select {
		case <-stop:
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

// ExpireUnconfirmed ends failed the jobs that waited for their
// confirmation longer than ConfirmWithin, forgetting whom they were to
// erase, and records each in the audit trail. The first worker of each
// instance runs it; several instances may run it at once: a job ends once.
func (r *Runner) ExpireUnconfirmed(ctx context.Context) error {
	if r.o.ConfirmWithin <= 0 {
		return nil
	}
	ended, err := r.repo.ExpireUnconfirmed(ctx, time.Now().Add(-r.o.ConfirmWithin),
		fmt.Sprintf("not confirmed within %s (privacy.confirm_within); request the erasure again", r.o.ConfirmWithin))
	for _, e := range ended {
		r.log.Info().Int64("erasure", e.ID).Int64("tenant_id", e.TenantID).Msg("erasure: not confirmed in time; ended")
		if r.o.Audit != nil {
			r.o.Audit.Record(ctx, audit.Record{TenantID: e.TenantID, ActorKind: audit.ActorSystem, Operation: "privacy.erasure.expire",
				TargetType: "erasure", TargetID: strconv.FormatInt(e.ID, 10), Result: audit.ResultOK})
		}
	}
	return err
}

// RunOnce claims one due job and works it to its end, or to the end of
// its turn (it is then handed back, due at once, and goes on at a later
// claim); it reports whether there was one.
func (r *Runner) RunOnce(ctx context.Context) (bool, error) {
	e, err := r.repo.ClaimErasure(ctx, r.owner, r.o.Lease, r.o.PerTenant)
	if err != nil || e == nil {
		return false, err
	}
	r.turnEnds = time.Now().Add(r.o.Turn)
	err = r.work(ctx, e)
	if errors.Is(err, errTurnOver) {
		r.log.Debug().Int64("erasure", e.ID).Int64("tenant_id", e.TenantID).Msg("erasure: handed back at the end of its turn")
		return true, r.repo.ReleaseErasures(ctx, r.owner)
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// Stopped: the query under way says so in its own words (SQLite:
		// "interrupted"), which would read as the database failing.
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	var failed error // why the job ended failed
	if err != nil && ctx.Err() == nil && final(err) {
		if ferr := r.fail(ctx, e, err); ferr != nil {
			err = ferr
		} else {
			failed, err = err, nil
		}
	}
	if r.o.Audit != nil && (err == nil || ctx.Err() == nil) {
		op, result := "privacy.erasure.run", audit.ResultOK
		switch {
		case err != nil:
			result = errs.ReasonOf(err)
		case failed != nil:
			result = errs.ReasonOf(failed)
		case e.Status == model.ErasureAwaitingConfirmation:
			// The run found more to delete than the job's total and
			// stopped for an admin to confirm the new one.
			op = "privacy.erasure.await_confirmation"
		}
		r.o.Audit.Record(ctx, audit.Record{TenantID: e.TenantID, ActorKind: audit.ActorSystem, Operation: op,
			TargetType: "erasure", TargetID: strconv.FormatInt(e.ID, 10), Result: result})
	}
	return true, err
}

var errLeaseLost = errors.New("the lease of the job passed to another instance")

// errTurnOver stops a job whose turn is over (RunnerOptions.Turn) after a
// batch that recorded where it stands: it is handed back, never failed.
var errTurnOver = errors.New("the job's turn is over")

// turnOver is errTurnOver once the turn of the job this worker claimed
// last is over; nil before.
func (r *Runner) turnOver() error {
	if r.turnEnds.IsZero() || time.Now().Before(r.turnEnds) {
		return nil
	}
	return errTurnOver
}

// held is the error of a write made under a lease: err, or errLeaseLost
// when the write found that another instance holds the lease now (ok
// false).
func held(ok bool, err error) error {
	if err == nil && !ok {
		err = errLeaseLost
	}
	return err
}

// final reports whether err ends the job as failed rather than for now: a
// refusal that the same job would meet again at every retry, such as
// LAST_ADMIN (the user is the tenant's last active admin) or a row that is
// gone. What can pass is retried after the lease: the database or a
// dependency unavailable or timing out, a concurrent change (CONFLICT, a
// deadlock), an internal error, the lease lost to another instance.
func final(err error) bool {
	if err == nil || errors.Is(err, errLeaseLost) || errors.Is(err, errEnding) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *errs.Error
	return errors.As(err, &e) && !e.Temporary()
}

// failure is the last_error of a job that failed for good: the reason,
// and why in words that name no person.
func failure(err error) string {
	if errs.Is(err, errs.ReasonLastAdmin) {
		return errs.ReasonLastAdmin + ": the tenant's last active admin cannot be erased; make another user admin and request the erasure again"
	}
	e := errs.From(err)
	return e.Reason + ": " + e.Message
}

// fail ends owner's job as failed for cause, its subject cleared: it is
// never retried. What it deleted and redacted stays so; its user is not
// anonymised (their anonymisation commits with a revocation of their
// tokens, or not at all), and keeps their tokens unless the job had
// disabled them before reading the tenant's text for mentions.
func (r *Runner) fail(ctx context.Context, e *model.Erasure, cause error) error {
	msg := failure(cause)
	if err := r.repo.FinishErasure(ctx, e.ID, r.owner, model.ErasureFailed, msg); err != nil {
		return err
	}
	e.Status, e.Subject, e.LastError, e.UsersAnonymised = model.ErasureFailed, "", msg, 0
	r.log.Warn().Int64("erasure", e.ID).Int64("tenant_id", e.TenantID).Str("reason", errs.ReasonOf(cause)).
		Msg("erasure: the job failed for good; it is not retried")
	return nil
}

func (r *Runner) work(ctx context.Context, e *model.Erasure) error {
	if e.Subject != "" {
		if err := r.erase(ctx, e); err != nil || e.Status != model.ErasurePending {
			return err
		}
	}
	// The store's own copies of the deleted rows (the embedded SQLite
	// store's WAL) go before the job is done; one that cannot go yet
	// (readers hold them) leaves the job pending, without a subject, to
	// be tried again after its lease.
	if r.o.Store != nil {
		if err := r.o.Store.Truncate(ctx); err != nil {
			r.log.Warn().Err(err).Int64("erasure", e.ID).Int64("tenant_id", e.TenantID).
				Msg("erasure: the erased rows are still in the database's WAL; the job stays pending and is tried again after its lease")
			return err
		}
	}
	// The person is gone: an error now is retried, never the job's
	// failure (its user is anonymised already).
	err := r.tx.InTx(ctx, func(ctx context.Context) error {
		if err := r.repo.FinishErasure(ctx, e.ID, r.owner, model.ErasureDone, ""); err != nil {
			return err
		}
		e.Status, e.Subject = model.ErasureDone, ""
		if e.UserID != 0 {
			e.UsersAnonymised = 1
		}
		for _, h := range r.hooks {
			if err := h.OnPersonErased(ctx, *e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.Status = model.ErasurePending
		return fmt.Errorf("%w: %w", errEnding, err)
	}
	return nil
}

// errEnding marks an error ending a job whose person is erased: the job
// is retried, never failed.
var errEnding = errors.New("ending the erasure")

// erase deletes the job's conversations, waits for the search index to
// drop them, anonymises its user and clears its subject; a job that waits
// for confirmation of a new total returns with that status.
func (r *Runner) erase(ctx context.Context, e *model.Erasure) error {
	upTo, err := r.bound(ctx, e)
	if err != nil {
		return err
	}
	names, err := externalNames(ctx, r.repo, e.TenantID, e.SubjectKind, e.Subject)
	if err != nil {
		return err
	}
	m, err := r.mentionsOf(ctx, e)
	if err != nil {
		return err
	}
	redacted, disabled := 0, false
	for {
		if waits, err := r.deleteConversations(ctx, e, upTo, &names); err != nil || waits {
			return err
		}
		if m != nil && e.UserID != 0 && !disabled {
			// Reading the tenant's text for mentions may take long: the
			// user is disabled, and their tokens end, first.
			if err := r.tx.InTx(ctx, func(ctx context.Context) error {
				if err := r.repo.DisableUser(ctx, e.TenantID, e.UserID); err != nil {
					return err
				}
				return r.revoke.Revoke(ctx, model.TokenVersionUser, e.TenantID, e.UserID, "erased")
			}); err != nil {
				return err
			}
			disabled = true
		}
		n, err := r.redactMentions(ctx, e, upTo, m)
		redacted += n
		if err != nil {
			return err
		}
		// The person may have become a speaker in a conversation while
		// the text was read (a transcript replaced): the reading left it
		// as it was, and it is deleted as theirs before the job ends.
		more, waits, err := r.recount(ctx, e, upTo, &names)
		if err != nil || waits {
			return err
		}
		if more == 0 {
			break
		}
	}
	if err := r.clearWebhookAnswers(ctx, e); err != nil {
		return err
	}
	rekeyed := 0
	if e.UserID != 0 {
		if rekeyed, err = r.rekeySpeakers(ctx, e); err != nil {
			return err
		}
	}
	scanned := m != nil
	// A job resumed may have redacted mentions or re-keyed a user's
	// speakers before it stopped, whose re-indexing it waits for as well.
	// A user's conversations re-keyed may lie above the job's bound (they
	// came while it waited for its confirmation): it waits for every
	// search job of the tenant's changed since it began.
	rekeys := rekeyed > 0 || e.UserID != 0 && e.Resumed
	if e.ConversationsDeleted > 0 || redacted > 0 || rekeys || scanned && e.Resumed {
		if err := r.settle(ctx, e, scanned || rekeys, rekeys); err != nil {
			return err
		}
	}
	return r.tx.InTx(ctx, func(ctx context.Context) error {
		if e.UserID != 0 {
			if err := r.repo.AnonymiseUser(ctx, e.TenantID, e.UserID); err != nil {
				return err
			}
			// A conversation created naming the user since their
			// speakers were re-keyed (before this transaction, which
			// holds the user against new ones): re-keyed here, indexed
			// after the job ends, as the anonymisation's names are.
			for {
				n, err := r.repo.RekeyUserSpeakers(ctx, e.TenantID, e.UserID, mentionBatch)
				if err != nil {
					return err
				}
				if n == 0 {
					break
				}
			}
			// The user's tokens end in the transaction that anonymises
			// them (their token version is a row): a refusal such as
			// LAST_ADMIN, or a rollback, revokes nothing, and a kill
			// cannot leave an anonymised user whose tokens still work.
			if err := r.revoke.Revoke(ctx, model.TokenVersionUser, e.TenantID, e.UserID, "erased"); err != nil {
				return err
			}
		}
		if err := r.repo.ForgetErasure(ctx, e.ID, r.owner); err != nil {
			return err
		}
		e.Subject = ""
		return nil
	})
}

// rekeySpeakers gives the user's participant rows keys that name no one
// (a partner's key is often the person's name or number), a batch of
// conversations at a time, each batch in one transaction with the renewal
// of the job's lease; a job resumed goes on with those not done. It
// returns how many conversations it re-keyed.
func (r *Runner) rekeySpeakers(ctx context.Context, e *model.Erasure) (int, error) {
	total := 0
	for {
		n := 0
		err := r.tx.InTx(ctx, func(ctx context.Context) error {
			var err error
			if n, err = r.repo.RekeyUserSpeakers(ctx, e.TenantID, e.UserID, mentionBatch); err != nil {
				return err
			}
			return held(r.repo.ErasureProgress(ctx, e.ID, r.owner, 0, r.o.Lease))
		})
		if total += n; err != nil || n == 0 {
			return total, err
		}
	}
}

// deleteConversations deletes the job's conversations a batch at a time
// until its total is deleted and a recount finds no more (recount), or
// fewer than counted are left; waits when a new total awaits
// confirmation.
func (r *Runner) deleteConversations(ctx context.Context, e *model.Erasure, upTo int64, names *[]string) (waits bool, err error) {
	for {
		left := e.ConversationsTotal - e.ConversationsDeleted
		if left <= 0 {
			more, waits, err := r.recount(ctx, e, upTo, names)
			if err != nil || waits || more == 0 {
				return waits, err
			}
			continue
		}
		ids, err := r.repo.ExternalConversations(ctx, e.TenantID, *names, upTo, int(min(int64(r.o.Batch), left)))
		if err != nil {
			return false, err
		}
		if len(ids) == 0 {
			// Fewer than counted are left: some were deleted otherwise.
			return false, nil
		}
		// The batch and its count commit together: a kill between them
		// would leave conversations deleted that the job never counted.
		var n int
		err = r.tx.InTx(ctx, func(ctx context.Context) error {
			var err error
			gone, err := r.purger.Purge(ctx, e.TenantID, ids)
			if err != nil {
				return fmt.Errorf("deleting conversations: %w", err)
			}
			n = len(gone)
			// Lost to another instance: this batch is its.
			return held(r.repo.ErasureProgress(ctx, e.ID, r.owner, n, r.o.Lease))
		})
		if err != nil {
			return false, err
		}
		e.ConversationsDeleted += int64(n)
		// The batch and its count committed: the next claim goes on from
		// what is left.
		if err := r.turnOver(); err != nil {
			return false, err
		}
	}
}

// bound is the job's bound, given now to a job from before bounds were
// kept (migration 0016): it deletes what it would have, but nothing
// ingested from now on.
func (r *Runner) bound(ctx context.Context, e *model.Erasure) (int64, error) {
	if e.ConversationsUpTo != nil {
		return *e.ConversationsUpTo, nil
	}
	upTo, err := r.repo.BoundErasure(ctx, e.TenantID, e.ID)
	if err != nil {
		return 0, err
	}
	e.ConversationsUpTo = &upTo
	return upTo, nil
}

// recount counts the job again once it has deleted its total: the
// conversations up to its bound where the person speaks can grow (a
// transcript replaced so that they now speak in an older conversation).
// When none is left the total stays. Otherwise the new total is what was
// deleted and what is left: over ConfirmOver, the job goes back to
// awaiting confirmation with it, its claim released, and recount reports
// that it waits; else the total is raised and the job goes on. Under the
// job's lease; a kill after it resumes from the total written. The names
// the person is written under are read again too, into names.
func (r *Runner) recount(ctx context.Context, e *model.Erasure, upTo int64, names *[]string) (more int64, waits bool, err error) {
	if *names, err = externalNames(ctx, r.repo, e.TenantID, e.SubjectKind, e.Subject); err != nil {
		return 0, false, err
	}
	more, err = r.repo.CountExternalConversations(ctx, e.TenantID, *names, upTo)
	if err != nil || more == 0 {
		return 0, false, err
	}
	total := e.ConversationsDeleted + more
	confirm := total > r.o.ConfirmOver
	if err := held(r.repo.ErasureGrew(ctx, e.ID, r.owner, total, confirm, r.o.Lease)); err != nil {
		return 0, false, err
	}
	e.ConversationsTotal = total
	if confirm {
		e.Status = model.ErasureAwaitingConfirmation
		r.log.Info().Int64("erasure", e.ID).Int64("tenant_id", e.TenantID).Int64("conversations_total", total).
			Int64("conversations_deleted", e.ConversationsDeleted).Msg("erasure: more conversations match than the job's total; it waits for confirmation of the new total")
	}
	return more, confirm, nil
}

// settle holds the job, renewing its lease, until the deleted words can
// be found nowhere: Settle has passed since the job's last deletion (no
// instance's indexer keeps them), and the search index has removed the
// deleted conversations. Their removals are outbox jobs the indexer
// deletes once done and keeps while the engine fails, so the job waits
// until no search job of the tenant up to the outbox's highest id now is
// for a conversation that no longer exists, then refreshes the engine so
// that the removals are searchable. A job resumed after its holder died
// waits the whole Settle again and marks the outbox when it resumes: when
// the deletions ended and which jobs they wrote are not recorded, and
// waiting longer is safe.
// With all, it also waits for the search jobs of the tenant up to the mark
// for conversations changed since the job was requested: the re-indexing
// of those whose mentions were redacted, by this run or an earlier one;
// with beyondBound, for conversations above the job's bound too (a user's
// re-keyed speakers).
func (r *Runner) settle(ctx context.Context, e *model.Erasure, all, beyondBound bool) error {
	upTo := int64(math.MaxInt64)
	if e.ConversationsUpTo != nil && !beyondBound {
		upTo = *e.ConversationsUpTo
	}
	start := time.Now()
	end := start.Add(r.o.Settle)
	mark, err := r.repo.OutboxMark(ctx)
	if err != nil {
		return err
	}
	renewed, indexed, warned := start, false, false
	var removed time.Time // when the index was first seen to have removed them
	for {
		if !indexed {
			// The clock that stamped the changes may be behind the one
			// that stamped the job.
			if indexed, err = r.indexed(ctx, e.TenantID, mark, all, upTo, e.CreatedAt.Add(-catchUpSkew), &removed); err != nil {
				return err
			}
		}
		now := time.Now()
		if indexed && !now.Before(end) {
			return nil
		}
		if !indexed && !warned && now.Sub(start) > indexBehind {
			warned = true
			r.log.Warn().Int64("erasure", e.ID).Int64("tenant_id", e.TenantID).Dur("waited_ms", now.Sub(start)).
				Msg("erasure: the search index has not removed the deleted conversations yet; the job stays pending until it has")
		}
		wait := r.o.Lease/3 - now.Sub(renewed)
		if indexed {
			wait = min(wait, end.Sub(now))
		} else {
			wait = min(wait, r.o.IndexPoll)
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if time.Since(renewed) < r.o.Lease/3 {
			continue
		}
		if err := held(r.repo.ErasureProgress(ctx, e.ID, r.owner, 0, r.o.Lease)); err != nil {
			return err
		}
		renewed = time.Now()
	}
}

// indexed reports whether the search index has removed every conversation
// of the tenant deleted up to outbox job mark (with all, also done the jobs
// up to it for conversations changed since), refreshed so that searches see
// it; removed keeps when the removals were first seen done. A refresh
// that fails (the engine is down again) is tried again at the next look;
// one that keeps failing is given up two of the engine's own refresh
// intervals after the removals, which have become searchable by then.
func (r *Runner) indexed(ctx context.Context, tenantID, mark int64, all bool, upTo int64, since time.Time, removed *time.Time) (bool, error) {
	pending := r.repo.IndexRemovalPending
	if all {
		pending = func(ctx context.Context, tenantID, mark int64) (bool, error) {
			return r.repo.SearchJobsPending(ctx, tenantID, mark, upTo, since)
		}
	}
	left, err := pending(ctx, tenantID, mark)
	if err != nil || left {
		return false, err
	}
	if r.o.Refresher == nil {
		return true, nil
	}
	if removed.IsZero() {
		*removed = time.Now()
	}
	if err := r.o.Refresher.Refresh(ctx); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if r.o.RefreshEvery > 0 && time.Since(*removed) >= 2*r.o.RefreshEvery {
			r.log.Warn().Err(err).Dur("refresh_interval_ms", r.o.RefreshEvery).
				Msg("erasure: the search index refuses to refresh; its removals are searchable after its own refresh, which has passed")
			return true, nil
		}
		r.log.Debug().Err(err).Msg("erasure: cannot refresh the search index; trying again")
		return false, nil
	}
	return true, nil
}

// mentionBatch is how many conversations, or deals, an erasure reads for
// mentions of the person at a time; eventBatch how many partner events
// (each at most 2 KB of data).
const (
	mentionBatch = 100
	eventBatch   = 1000
)

// answerSpan is how many deliveries of the webhook log one statement of
// clearWebhookAnswers reads: a range of the primary key, read in a few
// milliseconds.
const answerSpan = 10_000

// clearWebhookAnswers cuts to their status the receivers' answers that an
// earlier version kept in the tenant's webhook delivery log, whoever the
// erasure is of: this version keeps a failed answer's status alone, but a
// row written before may quote what the receiver refused (the person's
// number, an origin id holding it) until the log is trimmed. The log is
// read through once, by ranges of its primary key, each range in a
// transaction that renews the job's lease, so a long log neither holds a
// statement long nor lets the lease run out. A job taken over reads the
// log again from its start.
func (r *Runner) clearWebhookAnswers(ctx context.Context, e *model.Erasure) error {
	for after := int64(0); ; {
		if err := r.tx.InTx(ctx, func(ctx context.Context) error {
			next, _, err := r.repo.ClearWebhookAnswers(ctx, e.TenantID, after, answerSpan)
			if err != nil {
				return err
			}
			after = next
			return held(r.repo.ErasureRedacted(ctx, e.ID, r.owner, 0, 0, 0, r.o.Lease))
		}); err != nil || after == 0 {
			return err
		}
	}
}

// redactMentions writes Redacted wherever free text of the tenant writes
// the person's email address or phone number (the subject's, and the
// internal user's own): in the conversations up to the job's bound, in
// every deal and in the partner event log. It reads the conversations a batch at a time and rewrites
// those with a mention in one transaction with the renewal of the job's
// lease, its counts (conversations_redacted, deals_redacted) and where its
// reading stands (mentions_after), then reads again what changed since it
// began (mentions_since). A job taken over after a kill or an upgrade goes
// on from where the reading stood. m is nil when the job's subject names
// no email address or phone number (a name, an origin id of no user);
// redacted is the conversations rewritten by this run.
func (r *Runner) redactMentions(ctx context.Context, e *model.Erasure, upTo int64, m *mentions) (redacted int, err error) {
	if m == nil {
		return 0, nil
	}
	// count adds to the job's counts and moves its reading on to after,
	// renewing its lease, in the transaction of the batch.
	count := func(ctx context.Context, conversations, deals int, after int64) error {
		return held(r.repo.ErasureRedacted(ctx, e.ID, r.owner, conversations, deals, after, r.o.Lease))
	}
	// Text written while the first pass reads the tenant's (a transcript
	// replaced, a comment, a deal's upsert) is read again once, by what
	// changed since the first pass began, less catchUpSkew for the clocks
	// of the instances that wrote it. A job taken over goes on from where
	// its reading stood, and keeps when it began.
	if e.MentionsSince == nil {
		since := time.Now().Add(-catchUpSkew).UTC().Truncate(time.Millisecond)
		if err := held(r.repo.MentionsBegin(ctx, e.ID, r.owner, since, r.o.Lease)); err != nil {
			return 0, err
		}
		e.MentionsSince = &since
	}
	// A conversation where the person is a speaker is theirs to delete:
	// its speaker's name, written with the identifier, is left for the
	// recount to find it by.
	speaks := nameMatcher(e.SubjectKind, e.Subject)
	deals, events := 0, 0
	var eventsAfter int64
	// pass reads from conversation id from on, everything, or what changed
	// since since (not zero).
	pass := func(from int64, since time.Time) error {
		for after := from; ; {
			found, last, err := r.repo.FindMentions(ctx, e.TenantID, after, upTo, mentionBatch, since, m.Spans)
			if err != nil || last == 0 {
				if err != nil {
					return err
				}
				break
			}
			after = last
			var n int
			if err := r.tx.InTx(ctx, func(ctx context.Context) error {
				var err error
				if n, err = r.repo.RedactConversations(ctx, e.TenantID, found, m.Spans, speaks); err != nil {
					return err
				}
				return count(ctx, n, 0, last)
			}); err != nil {
				return err
			}
			// The reading stands there now: a second round of the job
			// (a recount that found more) goes on from it, and so does
			// the next claim of a job whose turn is over. The reading
			// again of what changed since (since set) is not recorded as
			// it goes: it runs to its end.
			e.MentionsAfter = max(e.MentionsAfter, last)
			redacted += n
			if since.IsZero() {
				if err := r.turnOver(); err != nil {
					return err
				}
			}
		}
		// pages rewrites batch after batch read on from *after, each in one
		// transaction with counted (the lease's renewal, and the counts the
		// job keeps), and adds up the rows it rewrote in *total; *after is
		// where the reading stands.
		pages := func(after *int64, total *int, redact func(ctx context.Context, after int64) (last int64, n int, err error),
			counted func(ctx context.Context, n int) error) error {
			for {
				var last int64
				var n int
				if err := r.tx.InTx(ctx, func(ctx context.Context) error {
					var err error
					if last, n, err = redact(ctx, *after); err != nil {
						return err
					}
					return counted(ctx, n)
				}); err != nil {
					return err
				}
				*total += n
				if last == 0 {
					return nil
				}
				*after = last
			}
		}
		var dealsAfter int64
		if err := pages(&dealsAfter, &deals, func(ctx context.Context, after int64) (int64, int, error) {
			return r.repo.RedactDeals(ctx, e.TenantID, after, mentionBatch, since, m.Spans)
		}, func(ctx context.Context, n int) error { return count(ctx, 0, n, 0) }); err != nil {
			return err
		}
		// The partner events, read on from where the first pass stopped:
		// the log only grows, and an event is written once.
		return pages(&eventsAfter, &events, func(ctx context.Context, after int64) (int64, int, error) {
			return r.repo.RedactEvents(ctx, e.TenantID, after, upTo, eventBatch, m.Spans)
		}, func(ctx context.Context, _ int) error { return count(ctx, 0, 0, 0) })
	}
	if err := pass(e.MentionsAfter, time.Time{}); err != nil {
		return redacted, err
	}
	if err := pass(0, *e.MentionsSince); err != nil {
		return redacted, err
	}
	if redacted > 0 || deals > 0 || events > 0 {
		r.log.Info().Int64("erasure", e.ID).Int64("tenant_id", e.TenantID).Int("conversations", redacted).Int("deals", deals).Int("events", events).
			Msg("erasure: the person's email address or phone number was written in free text; redacted")
	}
	return redacted, nil
}

// catchUpSkew is how far behind this instance's clock the second pass of
// redactMentions looks for changes.
const catchUpSkew = 10 * time.Second

// mentionsOf finds the job's email address or phone number, and its
// internal user's own; nil when there is none to find.
func (r *Runner) mentionsOf(ctx context.Context, e *model.Erasure) (*mentions, error) {
	var emails, phones []string
	switch e.SubjectKind {
	case model.SubjectEmail:
		emails = append(emails, e.Subject)
	case model.SubjectPhone:
		phones = append(phones, e.Subject)
	}
	if e.UserID != 0 {
		u, err := r.repo.User(ctx, e.TenantID, e.UserID)
		if err != nil {
			return nil, err
		}
		if u != nil && u.Email != nil && *u.Email != "" {
			emails = append(emails, identity.NormalizeEmail(*u.Email))
		}
		if u != nil && u.Phone != nil {
			if v, ok := identity.NormalizePhone(*u.Phone); ok {
				phones = append(phones, v)
			}
		}
	}
	return newMentions(emails, phones), nil
}
