// Package coalesce runs a background job on request, one run serving every
// request made while it waited: the form of the embedded store's WAL
// truncation and the embedded search index's rewrite, each asked for by
// every deletion and each costly enough that a stream of deletions should
// run it every few seconds rather than after each.
package coalesce

import (
	"context"
	"sync"
	"time"
)

// Options describe a Job.
type Options struct {
	// Delay is how long after a request a run begins (unless Gap asks for
	// longer); the requests made meanwhile are served by that run.
	Delay time.Duration
	// Gap is the least time from the end of one run to the start of the
	// next, given how long the last one took; nil is none.
	Gap func(took time.Duration) time.Duration
	// Run does the work. Its context ends when the job stops. A run that
	// fails, other than by the job stopping, is requested again: it is
	// tried again after Delay and Gap.
	Run func(ctx context.Context) error
	// Ran, when set, is told each run's error (for tests).
	Ran func(error)
}

// Job runs Options.Run in the background on request (Ask), from Start to
// Stop.
type Job struct {
	o      Options
	ask    chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	start  sync.Once
	wg     sync.WaitGroup
}

// New makes a job; it runs nothing before Start.
func New(o Options) *Job {
	ctx, cancel := context.WithCancel(context.Background())
	return &Job{o: o, ask: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
}

// Ask requests a run. It never blocks: a request made before the run that
// serves it has begun is already pending, and is served by that run. A
// request made before Start is served after Start.
func (j *Job) Ask() {
	select {
	case j.ask <- struct{}{}:
	default:
	}
}

// Start starts the job's goroutine; later calls do nothing, as does a call
// after Stop.
func (j *Job) Start() {
	j.start.Do(func() {
		if j.ctx.Err() != nil {
			return
		}
		j.wg.Add(1)
		go func() {
			defer j.wg.Done()
			j.loop()
		}()
	})
}

// Stop ends the job: the context of a run in progress ends, and Stop
// returns once that run has. Requests still pending are dropped. Stop may
// be called more than once.
func (j *Job) Stop() {
	j.cancel()
	// Wait for a Start under way to have added its goroutine to wg (a
	// later one sees the context ended and starts nothing).
	j.start.Do(func() {})
	j.wg.Wait()
}

func (j *Job) loop() {
	var last time.Time
	var gap time.Duration
	for {
		select {
		case <-j.ctx.Done():
			return
		case <-j.ask:
		}
		t := time.NewTimer(max(j.o.Delay, gap-time.Since(last)))
		select {
		case <-j.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if j.ctx.Err() != nil {
			// Both were ready, and select chose the timer (or the
			// request, above): a stopped job begins no run.
			return
		}
		select { // the requests made while waiting are served by this run
		case <-j.ask:
		default:
		}
		began := time.Now()
		err := j.o.Run(j.ctx)
		last = time.Now()
		if j.o.Gap != nil {
			gap = j.o.Gap(last.Sub(began))
		}
		if err != nil && j.ctx.Err() == nil {
			j.Ask()
		}
		if j.o.Ran != nil {
			j.o.Ran(err)
		}
	}
}
