package limit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	cases := []struct {
		name    string
		rps     int
		calls   int
		minTook time.Duration
		maxTook time.Duration
	}{
		{"strictly spaced", 100, 21, 190 * time.Millisecond, time.Second},
		{"unpaced", 0, 1000, 0, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPacer(tc.rps)
			start := time.Now()
			var wg sync.WaitGroup
			for range tc.calls {
				wg.Go(func() {
					if err := p.Wait(context.Background()); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if took := time.Since(start); took < tc.minTook || took > tc.maxTook {
				t.Errorf("%d calls took %s, want %s..%s", tc.calls, took, tc.minTook, tc.maxTook)
			}
		})
	}
}

func TestPacerNeverRefusesAndHonoursCtx(t *testing.T) {
	p := NewPacer(1)
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := p.Wait(ctx)
	var rej *Rejected
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &rej) {
		t.Fatalf("err %v, want a plain deadline", err)
	}
}
