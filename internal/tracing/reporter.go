package tracing

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/uber/jaeger-client-go"
)

// batchReporter hands finished spans to the sender in batches, where
// jaeger-client-go's remote reporter hands them over one at a time
// through a channel: with every call sampled that woke the reporter's
// goroutine for each span, a futex call and a goroutine switch per call.
// Here a finished span is appended to a list under a mutex, and the
// reporter wakes when wakeAt spans wait or the flush interval passes.
//
// What the remote reporter promises still holds: a span is retained until
// the sender has it (spans are pooled), at most queueSize are held, those
// waiting and those of the batch being handed over together (beyond that a
// span is dropped and counted, never blocking the call), every interval
// the sender flushes, and Close reports and flushes everything that
// waits.
type batchReporter struct {
	sender    jaeger.Transport
	log       zerolog.Logger
	queueSize int
	wakeAt    int

	mu      sync.Mutex
	waiting []*jaeger.Span
	dropped int
	closed  bool
	// handing counts the spans taken from waiting that the sender does
	// not have yet: with a slow collector they are held too.
	handing atomic.Int64

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// reporterWakeAt is how many waiting spans wake the reporter before its
// interval: enough that waking is rare, few enough that a batch is sent
// well before the queue fills.
const reporterWakeAt = 256

func newBatchReporter(sender jaeger.Transport, interval time.Duration, queueSize int, log zerolog.Logger) *batchReporter {
	r := &batchReporter{
		sender:    sender,
		log:       log,
		queueSize: queueSize,
		wakeAt:    min(reporterWakeAt, queueSize),
		waiting:   make([]*jaeger.Span, 0, reporterWakeAt),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go r.loop(interval)
	return r
}

// Report queues a finished, sampled span.
func (r *batchReporter) Report(span *jaeger.Span) {
	r.mu.Lock()
	if r.closed || len(r.waiting)+int(r.handing.Load()) >= r.queueSize {
		r.dropped++
		r.mu.Unlock()
		return
	}
	span.Retain()
	r.waiting = append(r.waiting, span)
	n := len(r.waiting)
	r.mu.Unlock()
	if n == r.wakeAt {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Close reports what waits, flushes the sender and closes it.
func (r *batchReporter) Close() {
	r.mu.Lock()
	already := r.closed
	r.closed = true
	r.mu.Unlock()
	if !already {
		close(r.stop)
	}
	<-r.done
}

func (r *batchReporter) loop(interval time.Duration) {
	defer close(r.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var spare []*jaeger.Span
	for {
		flush := false
		select {
		case <-r.wake:
		case <-tick.C:
			flush = true
		case <-r.stop:
			r.send(spare)
			r.flush()
			if err := r.sender.Close(); err != nil {
				r.log.Warn().Err(err).Msg("closing the span sender")
			}
			return
		}
		spare = r.send(spare)
		if flush {
			r.flush()
		}
	}
}

// send hands every waiting span to the sender, swapping the waiting list
// with spare (emptied) so Report appends to a list of its own meanwhile;
// it returns the list to use as spare next time.
func (r *batchReporter) send(spare []*jaeger.Span) []*jaeger.Span {
	r.mu.Lock()
	batch := r.waiting
	r.waiting = spare[:0]
	r.handing.Store(int64(len(batch)))
	dropped := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	if dropped > 0 {
		r.log.Warn().Int("spans", dropped).Int("queue_size", r.queueSize).Msg("span queue full: spans dropped")
	}
	for i, span := range batch {
		if _, err := r.sender.Append(span); err != nil {
			r.log.Warn().Err(err).Msg("reporting spans")
		}
		span.Release()
		batch[i] = nil
		r.handing.Add(-1)
	}
	return batch
}

func (r *batchReporter) flush() {
	if _, err := r.sender.Flush(); err != nil {
		r.log.Warn().Err(err).Msg("reporting spans")
	}
}
