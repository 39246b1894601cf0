package audit

import (
	"context"
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
	Append(ctx context.Context, recs []Record) error
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
}

// DefaultWriterOptions: 20,000 records queued, batches of up to 500 every
// 100 ms, 200 ms of waiting for room.
var DefaultWriterOptions = WriterOptions{
	Queue: 20000, Batch: 500, Interval: 100 * time.Millisecond,
	FullWait: 200 * time.Millisecond, RetryMax: 5 * time.Second,
}

// Writer is the Recorder of the service: records go to a bounded in-process
// queue, and one goroutine appends them in batches, so a request pays for
// a channel send, not a transaction. A batch that fails is retried, with
// backoff, until it is written or the writer is stopped and its drain
// deadline has passed. Stop writes everything queued before it returns.
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

// flush appends batch, retrying until it is written; once the writer is
// stopping, retries end with the drain deadline.
func (w *Writer) flush(batch []Record, final bool) {
	if len(batch) == 0 {
		return
	}
	pause := w.o.Interval
	for {
		ctx := context.Background()
		if final || w.isStopping() {
			ctx = w.stopCtx
		}
		start := time.Now()
		err := w.store.Append(ctx, batch)
		if err == nil {
			w.flushDur.Observe(time.Since(start).Seconds())
			w.written.Add(float64(len(batch)))
			w.queued.Sub(float64(len(batch)))
			return
		}
		w.failures.Inc()
		if ctx.Err() != nil {
			for _, r := range batch {
				w.drop(r, "the drain deadline passed before the store took it: "+err.Error())
			}
			w.queued.Sub(float64(len(batch)))
			return
		}
		w.log.Warn().Err(err).Int("records", len(batch)).Dur("retry_in", pause).Msg("audit: appending a batch failed; retrying")
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

func (w *Writer) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}
