package events

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/batch"
)

// TrimOptions tune retention.
type TrimOptions struct {
	// Retention is how long events are kept (events.retention).
	Retention time.Duration
	// Every is how often the trimmer looks for old events (default 1 min).
	Every time.Duration
	// Batch is the most events deleted per transaction (default 1000).
	Batch int
	// Pause separates two batches, so trimming a large backlog never
	// hogs the database (default 50 ms).
	Pause time.Duration
}

// Trimmer deletes the events older than the retention, in bounded
// batches. Every instance runs one; they may trim at once, as deleting an
// event twice deletes nothing.
type Trimmer struct {
	repo Repo
	opt  TrimOptions
	log  zerolog.Logger
	now  func() time.Time

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewTrimmer trims through the log's repository.
func NewTrimmer(l *Log, log zerolog.Logger, opt TrimOptions) *Trimmer {
	if opt.Every <= 0 {
		opt.Every = time.Minute
	}
	if opt.Batch <= 0 {
		opt.Batch = 1000
	}
	if opt.Pause <= 0 {
		opt.Pause = 50 * time.Millisecond
	}
	return &Trimmer{repo: l.repo, opt: opt, log: log.With().Str("worker", "event_trim").Logger(), now: time.Now}
}

// TrimOnce deletes every event older than the retention, batch by batch,
// and says how many it deleted.
func (t *Trimmer) TrimOnce(ctx context.Context) (int, error) {
	before := t.now().Add(-t.opt.Retention)
	return batch.Drain(ctx, t.opt.Batch, t.opt.Pause, func(ctx context.Context) (int, error) {
		return t.repo.Trim(ctx, before, t.opt.Batch)
	})
}

// Start trims now and then every Every until Stop.
func (t *Trimmer) Start(ctx context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cancel != nil {
		return
	}
	ctx, t.cancel = context.WithCancel(ctx)
	t.done = make(chan struct{})
	go func() {
		defer close(t.done)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			n, err := t.TrimOnce(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				t.log.Warn().Err(err).Int("deleted", n).Msg("trimming the event log failed")
			case n > 0:
				t.log.Info().Int("deleted", n).Msg("trimmed the event log")
			}
			timer.Reset(t.opt.Every)
		}
	}()
}

// Stop ends the trimmer and waits for it; a batch in progress rolls back.
func (t *Trimmer) Stop() {
	t.mu.Lock()
	cancel, done := t.cancel, t.done
	t.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}
