package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Store keeps the audit trail (dao.AuditLogs).
type Store interface {
	// Append adds normalised records to their tenants' chains in one
	// transaction, locking each tenant's head row (in tenant order) so
	// that appends from every instance follow one another per tenant.
	// A tenant whose next positions are held by a record no append wrote
	// fails with a *ChainTaken.
	Append(ctx context.Context, recs []Record) error
}

// ChainTaken is the error of an append that finds its tenant's next
// position taken: record ID holds seq Seq beyond the head (seq Head). No
// append wrote it (an append moves the head with its records), so it was
// inserted, or the head lowered or deleted, behind the service's back;
// appends to that tenant fail until an operator removes it (audit verify
// names it too).
type ChainTaken struct {
	TenantID, Head, Seq, ID int64
}

func (c *ChainTaken) Error() string {
	return fmt.Sprintf("tenant %d: audit chain position seq %d is taken by record id %d beyond the head (seq %d)", c.TenantID, c.Seq, c.ID, c.Head)
}

// WriterOptions tune the Writer (config [audit]).
type WriterOptions struct {
	// Queue is how many records wait for the writer at most.
	Queue int
	// Batch is how many records one append writes at most.
	Batch int
	// Interval is how long a record waits for its batch at most: a
	// `kill -9` loses at most the records of the last Interval (plus a
	// batch being written).
	Interval time.Duration
	// FullWait is how long Record waits for room when the queue is full
	// before it gives the record up, counting and logging it.
	FullWait time.Duration
	// RetryMax caps the pause between attempts to write a failed batch.
	RetryMax time.Duration
	// TenantTries is how many times the records of a tenant whose appends
	// fail are tried while other tenants' appends succeed, before they
	// are given up (logged and counted like dropped records).
	TenantTries int
}

// DefaultWriterOptions: 20,000 records queued, batches of up to 500 every
// 100 ms, 200 ms of waiting for room.
var DefaultWriterOptions = WriterOptions{
	Queue: 20000, Batch: 500, Interval: 100 * time.Millisecond,
	FullWait: 200 * time.Millisecond, RetryMax: 5 * time.Second, TenantTries: 5,
}

// Writer is the Recorder of the service: records go to a bounded in-process
// queue, and one goroutine appends them in batches, so a request pays for
// a channel send, not a transaction. A batch that fails is split by
// tenant, each tenant's records appended alone, so that one tenant's
// failure holds back no other's records. What still fails is retried,
// with backoff, until it is written or the writer is stopped and its
// drain deadline has passed; but while other tenants' appends succeed, a
// failing tenant's records are tried TenantTries times only, and a tenant
// whose chain position is taken (ChainTaken) is not retried: both are
// logged at error level naming the tenant, each record logged and counted
// as dropped. Stop writes everything queued before it returns.
//
// When the queue is full (the database is down or slower than the
// traffic), Record waits FullWait for room; a record that still finds
// none is given up, counted in mgv_audit_dropped_total and logged
// with everything it holds at error level, never silently.
type Writer struct {
	store Store
	o     WriterOptions
	log   zerolog.Logger
	now   func() time.Time

	// queue holds pointers: its buffer is allocated whole when the writer
	// is made, and 20,000 records by value would hold megabytes of an idle
	// process's memory for a backlog it rarely has.
	queue chan *Record
	// full tells the writer a batch is waiting, so it need not wait for
	// the interval; otherwise it sleeps, and a request's send wakes no one.
	full chan struct{}
	// mu guards closed against Record racing Stop: Record holds it shared
	// while it sends, Stop exclusively while it closes the queue.
	mu     sync.RWMutex
	closed bool
	done   chan struct{}
	// stopping is closed when Stop begins; stopCtx, set before, bounds the
	// writes from then on.
	stopping chan struct{}
	stopCtx  context.Context

	startOnce, stopOnce sync.Once

	queued   prometheus.Gauge
	written  prometheus.Counter
	dropped  prometheus.Counter
	waited   prometheus.Counter
	failures prometheus.Counter
	flushDur prometheus.Histogram
}

// NewWriter returns a writer to store; Start begins its work.
func NewWriter(store Store, log zerolog.Logger, o WriterOptions) *Writer {
	d := DefaultWriterOptions
	if o.Queue <= 0 {
		o.Queue = d.Queue
	}
	if o.Batch <= 0 {
		o.Batch = d.Batch
	}
	if o.Interval <= 0 {
		o.Interval = d.Interval
	}
	if o.FullWait <= 0 {
		o.FullWait = d.FullWait
	}
	if o.RetryMax <= 0 {
		o.RetryMax = d.RetryMax
	}
	if o.TenantTries <= 0 {
		o.TenantTries = d.TenantTries
	}
	return &Writer{
		store: store, o: o, log: log, now: time.Now,
		queue: make(chan *Record, o.Queue),
		full:  make(chan struct{}, 1),
		done:  make(chan struct{}), stopping: make(chan struct{}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mgv_audit_queued",
			Help: "Audit records waiting in this process for their batch."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "mgv_audit_written_total",
			Help: "Audit records appended to the trail by this process."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "mgv_audit_dropped_total",
			Help: "Audit records given up because the queue stayed full (each one is logged at error level)."}),
		waited: prometheus.NewCounter(prometheus.CounterOpts{Name: "mgv_audit_queue_full_total",
			Help: "Audit records that found the queue full and waited for room."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "mgv_audit_append_failures_total",
			Help: "Failed attempts to append a batch of audit records (the batch is retried)."}),
		flushDur: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mgv_audit_append_seconds",
			Help: "Time to append one batch of audit records.", Buckets: prometheus.DefBuckets}),
	}
}

// RegisterMetrics adds the writer's metrics to reg.
func (w *Writer) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{w.queued, w.written, w.dropped, w.waited, w.failures, w.flushDur} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Record queues r (see Recorder).
func (w *Writer) Record(ctx context.Context, r Record) {
	if c := CallFrom(ctx); c != nil {
		if r.RequestID == "" {
			r.RequestID = c.RequestID
		}
		if r.ClientAddr == "" {
			r.ClientAddr = c.ClientAddr
		}
	}
	r = Normalize(r, w.now())
	rec := &r
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.drop(r, "the writer has stopped")
		return
	}
	select {
	case w.queue <- rec:
		w.queued.Inc()
		if len(w.queue) >= w.o.Batch {
			select {
			case w.full <- struct{}{}:
			default:
			}
		}
		return
	default:
	}
	w.waited.Inc()
	select {
	case w.full <- struct{}{}:
	default:
	}
	t := time.NewTimer(w.o.FullWait)
	defer t.Stop()
	select {
	case w.queue <- rec:
		w.queued.Inc()
	case <-t.C:
		w.drop(r, "the queue stayed full")
	}
}

func (w *Writer) drop(r Record, why string) {
	w.dropped.Inc()
	w.log.Error().Str("why", why).Time("time", r.Time).Int64("tenant", r.TenantID).
		Str("actor_kind", r.ActorKind).Int64("actor_id", r.ActorID).Str("client_addr", r.ClientAddr).
		Str("operation", r.Operation).Str("target_type", r.TargetType).Str("target_id", r.TargetID).
		Str("result", r.Result).Str("request_id", r.RequestID).Msg("audit record not written")
}

// Start begins appending queued records.
func (w *Writer) Start() { w.startOnce.Do(func() { go w.run() }) }

// Stop refuses new records and writes every queued one, retrying a
// failing store until ctx ends; what is still unwritten then is logged
// record by record and counted as dropped.
func (w *Writer) Stop(ctx context.Context) {
	w.stopOnce.Do(func() {
		w.stopCtx = ctx
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		// No record is sent from here on: the writer drains the queue
		// and ends.
		close(w.stopping)
		// A writer never started still writes what it was given.
		w.Start()
	})
	<-w.done
}

// run appends the queued records every interval, or as soon as a batch is
// waiting, and everything left once Stop has begun.
func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.o.Interval)
	defer tick.Stop()
	batch := make([]Record, 0, w.o.Batch)
	for {
		final := false
		select {
		case <-tick.C:
		case <-w.full:
		case <-w.stopping:
			final = true
		}
		// Take what is queued now, a batch at a time.
		for n := len(w.queue); n > 0; n = len(w.queue) {
			batch = batch[:0]
			for range min(n, w.o.Batch) {
				batch = append(batch, *<-w.queue)
			}
			w.flush(batch, final)
		}
		if final {
			return
		}
	}
}

// flush appends batch, each tenant's records alone once it has failed,
// retrying what fails (see Writer); once the writer is stopping, retries
// end with the drain deadline.
func (w *Writer) flush(batch []Record, final bool) {
	if len(batch) == 0 {
		return
	}
	groups := [][]Record{batch}
	pause := min(w.o.Interval, w.o.RetryMax)
	tries := 0
	others := false
	for {
		ctx := context.Background()
		if final || w.isStopping() {
			ctx = w.stopCtx
		}
		left, wrote, err := w.appendEach(ctx, groups)
		if len(left) == 0 {
			return
		}
		if ctx.Err() != nil {
			w.giveUp(left, "the drain deadline passed before the store took it: "+err.Error())
			return
		}
		if len(groups) == 1 && len(left) == 1 {
			if split := byTenant(left[0]); len(split) > 1 {
				// Each tenant alone, at once.
				groups = split
				continue
			}
		}
		groups = left
		if others = others || wrote; others {
			// The store works for other tenants: these tenants' records
			// fail for a reason of their own, which waiting may not mend.
			if tries++; tries >= w.o.TenantTries {
				for _, g := range left {
					w.log.Error().Err(err).Int64("tenant", g[0].TenantID).Int("records", len(g)).Int("tries", tries).
						Msg("audit: appending a tenant's records keeps failing while other tenants' succeed; giving them up")
				}
				w.giveUp(left, "appending the tenant's records kept failing: "+err.Error())
				return
			}
		}
		w.log.Warn().Err(err).Int("tenants", len(left)).Dur("retry_in", pause).Msg("audit: appending a batch failed; retrying")
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		case <-w.stopping:
			t.Stop()
		}
		pause = min(pause*2, w.o.RetryMax)
	}
}

// appendEach appends each group once and returns the groups that failed,
// whether any was written, and the last error. A tenant's group whose
// chain position is taken is given up at once, at error level.
func (w *Writer) appendEach(ctx context.Context, groups [][]Record) (left [][]Record, wrote bool, last error) {
	for _, g := range groups {
		start := time.Now()
		err := w.store.Append(ctx, g)
		if err == nil {
			w.flushDur.Observe(time.Since(start).Seconds())
			w.written.Add(float64(len(g)))
			w.queued.Sub(float64(len(g)))
			wrote = true
			continue
		}
		w.failures.Inc()
		var taken *ChainTaken
		if errors.As(err, &taken) && len(byTenant(g)) == 1 {
			w.log.Error().Int64("tenant", taken.TenantID).Int64("seq", taken.Seq).Int64("id", taken.ID).Int64("head", taken.Head).
				Int("records", len(g)).Msg("audit: a record no append wrote holds the tenant's next chain position; " +
				"the tenant's records are not written until it is removed (audit verify names it)")
			w.giveUp([][]Record{g}, err.Error())
			continue
		}
		left, last = append(left, g), err
	}
	return left, wrote, last
}

// giveUp logs and counts every record of groups as dropped.
func (w *Writer) giveUp(groups [][]Record, why string) {
	for _, g := range groups {
		for _, r := range g {
			w.drop(r, why)
		}
		w.queued.Sub(float64(len(g)))
	}
}

// byTenant splits recs by tenant, keeping their order within each.
func byTenant(recs []Record) [][]Record {
	var out [][]Record
	at := map[int64]int{}
	for _, r := range recs {
		i, ok := at[r.TenantID]
		if !ok {
			i = len(out)
			at[r.TenantID] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], r)
	}
	return out
}

func (w *Writer) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}
