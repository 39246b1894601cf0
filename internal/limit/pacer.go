package limit

import (
	"context"
	"time"
)

// Pacer spaces outbound bulk work (search indexing, reindex) to a rate.
// Unlike the Limiter it never refuses: every caller waits its turn, in
// order, or leaves when its ctx ends.
type Pacer struct {
	q *queue
}

// NewPacer paces to rps calls per second, strictly spaced; rps <= 0 means
// unpaced.
func NewPacer(rps int) *Pacer {
	if rps <= 0 {
		return &Pacer{}
	}
	return &Pacer{q: newQueue(rps, time.Second, 0, 0, nil)}
}

// Wait returns when the caller may do one unit of work, or with ctx's error
// when ctx ends first.
func (p *Pacer) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.q == nil {
		return nil
	}
	p.q.mu.Lock()
	return p.q.wait(ctx, 0)
}
