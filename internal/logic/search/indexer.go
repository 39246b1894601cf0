package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/search"
)

// Jobs is the outbox as the indexer uses it (dao.SearchOutbox).
type Jobs interface {
	Claim(ctx context.Context, limit int, lease time.Duration) ([]model.OutboxJob, error)
	// Done, Retry and Release act on a job only while the claim that took
	// it holds it (its attempts count): a job claimed again since (this
	// claim's lease ran out) is the other claim's. Each says how many it
	// lost so.
	Done(ctx context.Context, jobs []model.OutboxJob) (lost int, err error)
	Retry(ctx context.Context, job model.OutboxJob, at time.Time, cause error) (lost bool, err error)
	Release(ctx context.Context, jobs []model.OutboxJob) (lost int, err error)
	Backlog(ctx context.Context) (int64, time.Time, error)
}

// DocLoader builds index documents from the database (dao.SearchDocs);
// the transcripts known gives (may be nil) are not read again.
type DocLoader interface {
	Load(ctx context.Context, ids []int64, known KnownTranscripts) (map[int64]*search.Doc, map[int64]Stamp, error)
	Stamps(ctx context.Context, ids []int64) (map[int64]Stamp, error)
}

// Pacer spaces bulk writes to a rate (limit.Pacer).
type Pacer interface {
	Wait(ctx context.Context) error
}

// IndexerOptions tune the indexer (config [search]).
type IndexerOptions struct {
	BatchSize int
	// Workers index batches side by side, so that one reads from the
	// database while another writes to the search engine; they claim
	// with SKIP LOCKED like separate instances do.
	Workers      int
	PollInterval time.Duration
	Lease        time.Duration
	MaxBackoff   time.Duration
	MaxLag       time.Duration
	Pacer        Pacer
	// CatchUpRefresh, on an engine that is a search.Refresher, refreshes
	// the index when the indexer has caught up after writing, so that what
	// it wrote is searchable at once rather than at the index's next
	// periodic refresh; at most once per CatchUpRefresh (0: never).
	CatchUpRefresh time.Duration
	// RecentTTL is the longest a transcript committed in this process is
	// kept for the indexer (default 15 s; see recentTranscripts).
	RecentTTL time.Duration
	// RecentSweep is how often the kept transcripts are checked against the
	// database, dropping those of conversations deleted (or written again)
	// on any instance, and the expired ones dropped (default 1 s).
	RecentSweep time.Duration
}

// Defaults of RecentTTL and RecentSweep.
const (
	DefaultRecentTTL   = 15 * time.Second
	DefaultRecentSweep = time.Second
)

// Indexer keeps the search index in step with the database: it claims
// outbox jobs, reads each conversation as it is now, writes the batch in
// one bulk request and deletes the jobs it indexed. A failed job is
// rescheduled with backoff and never dropped; a job whose conversation
// changed while it was being indexed runs again, so the index converges on
// the database whatever the interleaving of instances.
type Indexer struct {
	engine search.Engine
	jobs   Jobs
	docs   DocLoader
	o      IndexerOptions
	log    zerolog.Logger

	// recent are this process's committed transcripts not indexed yet.
	recent *recentTranscripts

	lag       prometheus.Gauge
	pending   prometheus.Gauge
	indexed   prometheus.Counter
	reused    prometheus.Counter
	failures  prometheus.Counter
	bulkTime  prometheus.Histogram
	refreshes prometheus.Counter
	forgotten prometheus.Counter

	// Catch-up refresh: batches between claim and done, whether anything
	// was written since the last refresh, and when that was.
	refresher search.Refresher
	inFlight  atomic.Int32
	dirty     atomic.Bool
	refreshMu sync.Mutex
	refreshed time.Time

	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc
	started sync.Once
	stopped sync.Once
}

// NewIndexer registers the indexer's metrics on reg (nil: none).
func NewIndexer(engine search.Engine, jobs Jobs, docs DocLoader, o IndexerOptions, log zerolog.Logger, reg prometheus.Registerer) (*Indexer, error) {
	ix := &Indexer{
		engine: engine, jobs: jobs, docs: docs, o: o, log: log.With().Str("component", "search_indexer").Logger(),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mgv_search_index_lag_seconds",
			Help: "Age of the oldest search outbox job not indexed yet; 0 when none waits.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mgv_search_outbox_pending",
			Help: "Search outbox jobs waiting or in progress.",
		}),
		indexed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mgv_search_indexed_total",
			Help: "Conversations written to (or removed from) the search index.",
		}),
		reused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mgv_search_transcripts_reused_total",
			Help: "Transcripts indexed from what this process had just written, without reading them back.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mgv_search_index_failures_total",
			Help: "Search outbox jobs that failed and were rescheduled.",
		}),
		bulkTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mgv_search_bulk_seconds",
			Help:    "Duration of one bulk write to the search engine.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mgv_search_catchup_refreshes_total",
			Help: "Index refreshes asked for because the indexer caught up after writing.",
		}),
		forgotten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mgv_search_recent_transcripts_forgotten_total",
			Help: "Kept transcripts dropped because their conversation was deleted or written again, on this or another instance.",
		}),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if ix.o.RecentTTL <= 0 {
		ix.o.RecentTTL = DefaultRecentTTL
	}
	if ix.o.RecentSweep <= 0 {
		ix.o.RecentSweep = DefaultRecentSweep
	}
	ix.recent = newRecentTranscripts(recentBytes, ix.o.RecentTTL)
	if ix.o.BatchSize <= 0 {
		ix.o.BatchSize = 200
	}
	if ix.o.Workers <= 0 {
		ix.o.Workers = 1
	}
	if r, ok := engine.(search.Refresher); ok && ix.o.CatchUpRefresh > 0 {
		ix.refresher = r
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{ix.lag, ix.pending, ix.indexed, ix.reused, ix.failures, ix.bulkTime, ix.refreshes,
			ix.forgotten, recentCollector{ix.recent}} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("search indexer metrics: %w", err)
			}
		}
	}
	return ix, nil
}

// writeShare is how much of the lease, in quarters, a batch's writes may
// take: the rest is for reading the conversations again and recording
// the jobs' outcomes.
const writeShare = 3

// recentBytes bounds the transcripts kept for the indexer: a few hundred
// typical ones, what several seconds of heavy ingest commit before the
// indexer takes them. Beyond it the oldest are read back as before.
const recentBytes = 16 << 20

// Committed is Ingest's OnCommitted: it keeps a transcript just written
// (w nil: none) for the indexer, and wakes it.
func (ix *Indexer) Committed(w *conversation.TranscriptWrite) {
	if w != nil {
		ix.recent.put(w.Conversation.TenantID, w.Conversation.ID, w.Conversation.TranscriptVersion, w.Sentences)
	}
	ix.Notify()
}

// Notify wakes an idle worker: work for the indexer was just committed in
// this process, so it need not wait out the poll interval. It never blocks;
// notifications while no worker waits collapse into one.
func (ix *Indexer) Notify() {
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

// Start runs the indexer in the background until Stop.
func (ix *Indexer) Start() {
	ix.started.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		ix.cancel = cancel
		go ix.run(ctx)
		go ix.sweeps(ctx)
	})
}

// Stop claims no more jobs and waits for the batch in progress until ctx
// ends; then it aborts it, and the batch's jobs are handed back.
func (ix *Indexer) Stop(ctx context.Context) error {
	var err error
	ix.stopped.Do(func() {
		close(ix.stop)
		if ix.cancel == nil {
			return
		}
		select {
		case <-ix.done:
		case <-ctx.Done():
			ix.cancel()
			<-ix.done
			err = ctx.Err()
		}
		ix.cancel()
	})
	ix.recent.clear()
	return err
}

func (ix *Indexer) run(ctx context.Context) {
	defer close(ix.done)
	var wg sync.WaitGroup
	for w := 0; w < ix.o.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ix.work(ctx, w == 0)
		}()
	}
	wg.Wait()
}

// work runs batches until Stop; the first worker also keeps the backlog
// gauges current.
func (ix *Indexer) work(ctx context.Context, gauges bool) {
	failures := 0
	lastBacklog := time.Time{}
	for {
		select {
		case <-ix.stop:
			return
		default:
		}
		n, err := ix.RunOnce(ctx)
		if gauges && (time.Since(lastBacklog) > 5*time.Second || n == 0) {
			ix.observeBacklog(ctx)
			lastBacklog = time.Now()
		}
		wait := time.Duration(0)
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			wait = backoff(failures, ix.o.PollInterval, ix.o.MaxBackoff)
			ix.log.Warn().Err(err).Dur("retry_in_ms", wait).Msg("search indexing failed; jobs are kept and retried")
		case n == 0:
			// Caught up: nothing is due.
			failures = 0
			wait = ix.o.PollInterval
			if again := ix.catchUpRefresh(ctx); again > 0 {
				wait = min(wait, again)
			}
		default:
			// More may be due already. The index is refreshed once a claim
			// finds nothing, not after every batch: under a steady stream
			// of writes the index's periodic refresh keeps it fresh, and
			// fewer refreshes make fewer segments to merge.
			failures = 0
		}
		if wait == 0 {
			continue
		}
		wake := ix.wake
		if failures > 0 {
			wake = nil // a failing engine is not retried sooner for new work
		}
		t := time.NewTimer(wait)
		select {
		case <-ix.stop:
			t.Stop()
			return
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (ix *Indexer) observeBacklog(ctx context.Context) {
	n, oldest, err := ix.jobs.Backlog(ctx)
	if err != nil {
		return
	}
	ix.pending.Set(float64(n))
	if oldest.IsZero() {
		ix.lag.Set(0)
	} else {
		ix.lag.Set(max(0, time.Since(oldest).Seconds()))
	}
}

// catchUpRefresh refreshes the index when something was written since the
// last refresh and no batch is in flight in this process. Within
// CatchUpRefresh of the last refresh it waits, and returns how soon to ask
// again. A failed refresh is only logged: the index's periodic refresh
// makes the writes searchable anyway.
func (ix *Indexer) catchUpRefresh(ctx context.Context) time.Duration {
	if ix.refresher == nil || !ix.dirty.Load() || ix.inFlight.Load() > 0 {
		return 0
	}
	ix.refreshMu.Lock()
	defer ix.refreshMu.Unlock()
	if since := time.Since(ix.refreshed); since < ix.o.CatchUpRefresh {
		return ix.o.CatchUpRefresh - since
	}
	if !ix.dirty.CompareAndSwap(true, false) {
		return 0 // another worker refreshed meanwhile
	}
	ix.refreshed = time.Now()
	if err := ix.refresher.Refresh(ctx); err != nil {
		ix.dirty.Store(true)
		ix.log.Debug().Err(err).Msg("catch-up refresh failed; the index's own refresh follows")
		return 0
	}
	ix.refreshes.Inc()
	return 0
}

// RunOnce indexes one batch of due jobs and returns how many jobs it
// claimed.
func (ix *Indexer) RunOnce(ctx context.Context) (int, error) {
	ix.inFlight.Add(1)
	defer ix.inFlight.Add(-1)
	claimed := time.Now()
	jobs, err := ix.jobs.Claim(ctx, ix.o.BatchSize, ix.o.Lease)
	if err != nil || len(jobs) == 0 {
		return 0, err
	}
	byConv := map[int64][]model.OutboxJob{}
	var ids []int64
	for _, j := range jobs {
		if _, ok := byConv[j.ConversationID]; !ok {
			ids = append(ids, j.ConversationID)
		}
		byConv[j.ConversationID] = append(byConv[j.ConversationID], j)
	}
	fail := func(err error) (int, error) {
		if ctx.Err() != nil {
			// Stopping: hand the jobs back rather than wait out the lease.
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, _ = ix.jobs.Release(rctx, jobs)
			return len(jobs), err
		}
		ix.retry(ctx, jobs, err)
		return len(jobs), err
	}
	reused := 0
	docs, stamps, err := ix.docs.Load(ctx, ids, func(id, version int64) ([]model.Sentence, bool) {
		sentences, ok := ix.recent.get(id, version)
		if ok {
			reused++
		}
		return sentences, ok
	})
	if err != nil {
		return fail(fmt.Errorf("reading conversations: %w", err))
	}
	ops := make([]search.Op, len(ids))
	for i, id := range ids {
		ops[i] = search.Op{TenantID: byConv[id][0].TenantID, ConversationID: id, Doc: docs[id]}
	}
	if ix.o.Pacer != nil {
		if err := ix.o.Pacer.Wait(ctx); err != nil {
			return fail(err)
		}
	}
	// The engine may split a batch of long transcripts into several
	// requests: they stop within the lease, and what was not sent by then
	// is due again at once (search.ErrNotSent), rather than being written
	// while another claim takes the same jobs.
	wctx := ctx
	if ix.o.Lease > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, claimed.Add(ix.o.Lease*writeShare/4))
		defer cancel()
	}
	start := time.Now()
	results, err := ix.engine.Write(wctx, ops)
	ix.bulkTime.Observe(time.Since(start).Seconds())
	if err != nil {
		return fail(fmt.Errorf("writing to the search engine: %w", err))
	}
	ix.dirty.Store(true)
	// Whoever wrote last re-reads: a conversation that changed after it
	// was read runs again, so a slower instance's older write never sticks.
	var written []int64
	for i, id := range ids {
		if results[i] == nil && docs[id] != nil {
			written = append(written, id)
		}
	}
	now, err := ix.docs.Stamps(ctx, written)
	if err != nil {
		return fail(fmt.Errorf("re-reading conversations: %w", err))
	}
	var done []model.OutboxJob
	for i, id := range ids {
		switch {
		case errors.Is(results[i], search.ErrNotSent):
			for _, j := range byConv[id] {
				ix.reschedule(ctx, j, time.Now(), nil)
			}
		case results[i] != nil:
			ix.retry(ctx, byConv[id], results[i])
		case docs[id] != nil && now[id] != stamps[id]:
			for _, j := range byConv[id] {
				ix.reschedule(ctx, j, time.Now(), nil)
			}
		default:
			ix.indexed.Inc()
			done = append(done, byConv[id]...)
			if docs[id] != nil {
				ix.recent.indexed(id, docs[id].Version)
			} else {
				ix.recent.indexed(id, math.MaxInt64)
			}
		}
	}
	ix.reused.Add(float64(reused))
	lost, err := ix.jobs.Done(ctx, done)
	if err != nil {
		// The jobs run again after their lease: harmless duplicates.
		return len(jobs), fmt.Errorf("deleting indexed jobs: %w", err)
	}
	if lost > 0 {
		// This batch outlasted its lease and another claim took them: they
		// are that claim's, which indexes their conversations again.
		ix.log.Warn().Int("jobs", lost).Msg("indexed search jobs were claimed again after their lease ran out; left to the claim that holds them")
	}
	return len(jobs), nil
}

func (ix *Indexer) retry(ctx context.Context, jobs []model.OutboxJob, cause error) {
	for _, j := range jobs {
		ix.failures.Inc()
		ix.reschedule(ctx, j, time.Now().Add(backoff(j.Failures+1, ix.o.PollInterval, ix.o.MaxBackoff)), cause)
	}
}

// reschedule makes a job due at at, unless another claim took it since
// (this one's lease ran out): then the job is that claim's, left alone.
func (ix *Indexer) reschedule(ctx context.Context, j model.OutboxJob, at time.Time, cause error) {
	lost, err := ix.jobs.Retry(ctx, j, at, cause)
	switch {
	case err != nil:
		// Unrecorded, the job still comes back when its lease ends.
		ix.log.Warn().Err(err).Int64("job", j.ID).Msg("cannot reschedule a search job; it returns after its lease")
	case lost:
		ix.log.Warn().Int64("job", j.ID).Msg("search job claimed again after its lease ran out; not rescheduled, left to the claim that holds it")
	}
}

// Check is the search_index detail of /readyz: red when the oldest job
// waits longer than MaxLag (the message says how long and how many).
func (ix *Indexer) Check(ctx context.Context) error {
	n, oldest, err := ix.jobs.Backlog(ctx)
	if err != nil {
		return err
	}
	if lag := time.Since(oldest); !oldest.IsZero() && lag > ix.o.MaxLag {
		return fmt.Errorf("index lag %s (over %s), %d jobs pending", lag.Round(time.Second), ix.o.MaxLag, n)
	}
	return nil
}

// backoff grows from base to limit over attempts, with jitter.
func backoff(attempt int, base, limit time.Duration) time.Duration {
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + rand.N(d/2+1)
}
