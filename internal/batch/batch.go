// Package batch runs a bounded step, such as deleting the rows past a
// retention a thousand at a time, until a step comes back short: a backlog
// of any size is worked off in one run, with a pause between steps so the
// run never hogs the database, instead of one step a run leaving the rest
// to grow.
package batch

import (
	"context"
	"time"
)

// Drain runs step until it does less than size (the backlog is worked
// off), fails, or ctx ends, pausing pause between two steps, and returns
// the sum of what the steps did.
func Drain(ctx context.Context, size int, pause time.Duration, step func(ctx context.Context) (int, error)) (int, error) {
	total := 0
	for {
		n, err := step(ctx)
		total += n
		if err != nil || n < size {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(pause):
		}
	}
}
