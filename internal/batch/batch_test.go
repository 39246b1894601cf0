package batch

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Drain runs full steps until a short one, sums what they did, and stops
// at a step's error or when its context ends during a pause.
func TestDrainStopsAtAShortStepAnErrorOrTheEnd(t *testing.T) {
	left := 2500
	steps := 0
	n, err := Drain(t.Context(), 1000, time.Millisecond, func(context.Context) (int, error) {
		steps++
		did := min(left, 1000)
		left -= did
		return did, nil
	})
	if n != 2500 || err != nil || steps != 3 {
		t.Errorf("a backlog of 2500 in steps of 1000: %d done in %d steps, %v; want 2500 in 3", n, steps, err)
	}

	broken := errors.New("database down")
	n, err = Drain(t.Context(), 10, time.Millisecond, func(context.Context) (int, error) { return 4, broken })
	if n != 4 || !errors.Is(err, broken) {
		t.Errorf("a failed step: %d, %v; want 4 and its error", n, err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	n, err = Drain(ctx, 10, time.Hour, func(context.Context) (int, error) { cancel(); return 10, nil })
	if n != 10 || !errors.Is(err, context.Canceled) {
		t.Errorf("ended during the pause: %d, %v; want 10 and context.Canceled", n, err)
	}
}
