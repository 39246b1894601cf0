package tracker

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/batch"
	"github.com/megaview/mgvcore/internal/model"
)

// MatchFunc matches one tracker, as stored at the job's version, in
// one conversation. An alias, so the storage layer implements
// JobRepo without importing logic.
type MatchFunc = func(tracker *model.Tracker, sentences []model.Sentence, participants []model.Participant) []model.TrackerHit

// JobRepo is the durable queue of tracker re-applications: outbox
// rows (model.OutboxTrackerKinds), written with the tracker change they
// follow.
type JobRepo interface {
	// ClaimTrackerJob leases the oldest due job for lease, or returns nil
	// when none is due. Two workers never hold the same job. Tenants take
	// turns: a claim puts its tenant's other due jobs behind every other
	// tenant's, so one tenant's many jobs do not hold up another's.
	ClaimTrackerJob(ctx context.Context, lease time.Duration) (*model.OutboxJob, error)
	// ApplyTrackerBatch, in one transaction: renews the lease, checks that
	// the job and its tracker version are current, matches the next batch of
	// at most size conversations after the job's cursor, replaces the
	// tracker's hits in them, and advances the cursor (job.ConversationID).
	ApplyTrackerBatch(ctx context.Context, job *model.OutboxJob, size int, lease time.Duration, match MatchFunc) (model.TrackerBatch, error)
	// PurgeTrackerHits deletes at most limit hits of a tracker and says how
	// many it deleted.
	PurgeTrackerHits(ctx context.Context, tenantID, trackerID int64, limit int) (int, error)
	// FinishTrackerJob deletes the job, if job's claim holds it still (its
	// attempts); lost: another claim took the job since (this one's lease
	// ran out), and the job, left alone, is that claim's to finish.
	FinishTrackerJob(ctx context.Context, job *model.OutboxJob) (lost bool, err error)
	// RetryTrackerJob records a failure (cause nil: none) and when to try
	// again, if job's claim holds it still; lost as FinishTrackerJob's.
	RetryTrackerJob(ctx context.Context, job *model.OutboxJob, at time.Time, cause error) (lost bool, err error)
	// RequeueEarlierRule queues the application of up to limit trackers
	// whose hits an earlier match rule found (model.TrackerMatchRule), each
	// once however many instances ask at once; read is how many such
	// trackers it found (fewer than limit: none is left).
	RequeueEarlierRule(ctx context.Context, limit int) (read, queued int, err error)
}

// Pacer spaces bulk work to a rate (limit.Pacer).
type Pacer interface {
	Wait(ctx context.Context) error
}

// ApplierOptions bound the background work.
type ApplierOptions struct {
	// Workers is how many jobs run at once (default 2).
	Workers int
	// BatchSize is the conversations per transaction (default 50).
	BatchSize int
	// PurgeSize is the hits deleted per transaction (default 5000).
	PurgeSize int
	// Pacer spaces batches across all workers; nil means unpaced.
	Pacer Pacer
	// Poll is how often idle workers look for jobs written by other
	// instances (default 1 s); local changes wake them at once.
	Poll time.Duration
	// Lease is how long a claimed job is hidden from other workers without
	// progress (default 2 min); each batch renews it.
	Lease time.Duration
	// MaxBackoff caps the delay between retries of a failing job (default 5 min).
	MaxBackoff time.Duration
	// Turn is how long a worker runs one job before it hands the job back
	// and claims again (default 10 s), so that a tracker over a large
	// tenant's conversations, or the purge of a deleted tracker's many
	// hits, takes turns with other tenants' jobs rather than holding a
	// worker for as long as it runs.
	Turn time.Duration
}

// Applier re-applies new and changed trackers to existing
// conversations in the background, and, once after an upgrade that
// changed the rule of matching, every tracker (reapply). Work is durable:
// jobs are outbox rows and each batch moves a cursor stored on the job, so
// a restart resumes where the last committed batch stopped.
type Applier struct {
	jobs JobRepo
	opt  ApplierOptions
	log  zerolog.Logger

	wake chan struct{}

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewApplier works through jobs; call Start to begin.
func NewApplier(jobs JobRepo, log zerolog.Logger, opt ApplierOptions) *Applier {
	if opt.Workers <= 0 {
		opt.Workers = 2
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 50
	}
	if opt.PurgeSize <= 0 {
		opt.PurgeSize = 5000
	}
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	if opt.Lease <= 0 {
		opt.Lease = 2 * time.Minute
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 5 * time.Minute
	}
	if opt.Turn <= 0 {
		opt.Turn = 10 * time.Second
	}
	return &Applier{jobs: jobs, opt: opt, log: log.With().Str("worker", "tracker_apply").Logger(), wake: make(chan struct{}, 1)}
}

// Notify wakes an idle worker: a job was just committed.
func (a *Applier) Notify() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Start runs the workers until ctx ends or Stop is called. Starting twice
// is a no-op.
func (a *Applier) Start(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		return
	}
	ctx, a.cancel = context.WithCancel(ctx)
	a.done = make(chan struct{})
	var wg sync.WaitGroup
	for range a.opt.Workers {
		wg.Go(func() { a.run(ctx) })
	}
	wg.Go(func() { a.reapply(ctx) })
	go func() {
		wg.Wait()
		close(a.done)
	}()
}

// Stop ends the workers and waits for them. A job in progress keeps its
// committed progress and is handed back, so another instance resumes it.
func (a *Applier) Stop() {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (a *Applier) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-a.wake:
		}
		// Drain every due job before sleeping again; while the database
		// fails, look less and less often (up to MaxBackoff).
		idle := a.opt.Poll
		for ctx.Err() == nil {
			job, err := a.jobs.ClaimTrackerJob(ctx, a.opt.Lease)
			if err != nil {
				if ctx.Err() == nil {
					failures++
					idle = min(a.opt.Poll<<min(failures, 16), a.opt.MaxBackoff)
					a.log.Warn().Err(err).Dur("retry_in_ms", idle).Msg("claiming a tracker job failed")
				}
				break
			}
			failures = 0
			if job == nil {
				break
			}
			a.process(ctx, job)
		}
		timer.Reset(idle)
	}
}

// reapplyBatch is the trackers RequeueEarlierRule takes in one
// transaction; reapplyPause the pause between two.
const (
	reapplyBatch = 100
	reapplyPause = 50 * time.Millisecond
)

// reapply queues, once a start, every tracker whose hits an earlier rule
// of matching found (an upgrade to model.TrackerMatchRule) to be applied
// to its tenant's conversations again, and wakes the workers for them: the
// hits already stored, by that rule, are replaced as a tracker change
// replaces them. While the database fails it tries again, less and less
// often (up to MaxBackoff), until it is done or the Applier stops; what it
// has not reached by then the next start queues.
func (a *Applier) reapply(ctx context.Context) {
	for failures := 0; ctx.Err() == nil; failures++ {
		queued := 0
		_, err := batch.Drain(ctx, reapplyBatch, reapplyPause, func(ctx context.Context) (int, error) {
			read, n, err := a.jobs.RequeueEarlierRule(ctx, reapplyBatch)
			if queued += n; n > 0 {
				a.Notify()
			}
			return read, err
		})
		if queued > 0 {
			a.log.Info().Int("trackers", queued).Int("rule", model.TrackerMatchRule).Msg("queued trackers whose hits an earlier rule of matching found to be applied again")
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		wait := min(a.opt.Poll<<min(failures, 16), a.opt.MaxBackoff)
		a.log.Warn().Err(err).Dur("retry_in_ms", wait).Msg("queueing the trackers of an earlier rule of matching failed")
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// process runs one claimed job to its end or for its turn, or records
// why it stopped.
func (a *Applier) process(ctx context.Context, job *model.OutboxJob) {
	log := a.log.With().Int64("job", job.ID).Int64("tenant", job.TenantID).Int64("tracker", job.TrackerID).Int64("version", job.Version).Logger()
	start, matched := time.Now(), 0
	match := cachedMatch()
	for {
		if err := a.pace(ctx); err != nil {
			a.handBack(job, log)
			return
		}
		res, err := a.jobs.ApplyTrackerBatch(ctx, job, a.opt.BatchSize, a.opt.Lease, match)
		if err != nil {
			a.fail(ctx, job, err, log)
			return
		}
		matched += res.Conversations
		switch {
		case res.LeaseLost:
			// Neither finished nor failed here: the job is another
			// claim's now, or the next one's.
			log.Warn().Msg("tracker job's lease ran out; left to the next claim")
			return
		case res.Superseded:
			log.Debug().Msg("tracker job superseded by a newer version")
			a.finish(ctx, job, log)
			return
		case res.TrackerGone:
			done, err := a.purge(ctx, job, start)
			if err != nil {
				a.fail(ctx, job, err, log)
				return
			}
			if !done {
				log.Debug().Msg("tracker purge handed back at the end of its turn")
				a.handBack(job, log)
				return
			}
			log.Info().Dur("took_ms", time.Since(start)).Msg("purged the hits of a deleted tracker")
			a.finish(ctx, job, log)
			return
		case res.Done:
			log.Info().Int("conversations", matched).Dur("took_ms", time.Since(start)).Msg("applied tracker to existing conversations")
			a.finish(ctx, job, log)
			return
		}
		// Its turn over, the job goes back in line, due now, where its
		// cursor keeps its progress: the next claim serves the jobs that
		// were due before it (other tenants' first), then it again.
		if time.Since(start) >= a.opt.Turn {
			log.Debug().Int("conversations", matched).Msg("tracker job handed back at the end of its turn")
			a.handBack(job, log)
			return
		}
	}
}

// purge deletes the hits of the job's deleted tracker, a paced step at a
// time, until none is left (done) or the job's turn, begun at start, is
// over: the job then goes back in line and the next claim purges on.
func (a *Applier) purge(ctx context.Context, job *model.OutboxJob, start time.Time) (done bool, err error) {
	for {
		if err := a.pace(ctx); err != nil {
			return false, err
		}
		n, err := a.jobs.PurgeTrackerHits(ctx, job.TenantID, job.TrackerID, a.opt.PurgeSize)
		if err != nil || n < a.opt.PurgeSize {
			return err == nil, err
		}
		if time.Since(start) >= a.opt.Turn {
			return false, nil
		}
	}
}

func (a *Applier) pace(ctx context.Context) error {
	if a.opt.Pacer == nil {
		return ctx.Err()
	}
	return a.opt.Pacer.Wait(ctx)
}

// cachedMatch compiles the job's tracker once, not once per conversation.
func cachedMatch() MatchFunc {
	var (
		version int64
		m       *Matcher
	)
	return func(t *model.Tracker, sentences []model.Sentence, participants []model.Participant) []model.TrackerHit {
		if m == nil || version != t.Version {
			m, version = NewMatcher([]model.Tracker{*t}), t.Version
		}
		return m.Match(sentences, participants)
	}
}

// claimedAgain logs that a job's lease ran out and another claim took it:
// the job is that claim's now, and this one moves on.
func claimedAgain(log zerolog.Logger, what string) {
	log.Warn().Msg("tracker job claimed again after its lease ran out; not " + what + ", left to the claim that holds it")
}

func (a *Applier) finish(ctx context.Context, job *model.OutboxJob, log zerolog.Logger) {
	lost, err := a.jobs.FinishTrackerJob(ctx, job)
	switch {
	case err != nil && ctx.Err() == nil:
		// The job runs again after its lease; re-applying is idempotent.
		log.Warn().Err(err).Msg("deleting a finished tracker job failed")
	case lost:
		claimedAgain(log, "finished")
	}
}

// fail schedules a retry with exponential backoff and jitter.
func (a *Applier) fail(ctx context.Context, job *model.OutboxJob, cause error, log zerolog.Logger) {
	if ctx.Err() != nil {
		a.handBack(job, log)
		return
	}
	delay := min(time.Second<<min(job.Failures, 20), a.opt.MaxBackoff)
	delay = delay/2 + rand.N(delay/2+1)
	log.Warn().Err(cause).Int("failures", job.Failures+1).Dur("retry_in_ms", delay).Msg("tracker job failed")
	lost, err := a.jobs.RetryTrackerJob(ctx, job, time.Now().Add(delay), cause)
	switch {
	case err != nil && ctx.Err() == nil:
		log.Warn().Err(err).Msg("recording a tracker job failure failed; it runs again after its lease")
	case lost:
		claimedAgain(log, "rescheduled")
	}
}

// handBack makes a job interrupted by shutdown, or at the end of its turn,
// due at once, so another worker need not wait for the lease to run out;
// unless another claim took it meanwhile, whose lease it leaves alone.
func (a *Applier) handBack(job *model.OutboxJob, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lost, err := a.jobs.RetryTrackerJob(ctx, job, time.Now(), nil)
	switch {
	case err != nil:
		log.Debug().Err(err).Msg("handing back a tracker job failed; it runs again after its lease")
	case lost:
		claimedAgain(log, "handed back")
	}
}
