package app

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/health"
)

// An upgraded process takes over once its dependencies answer it, waiting
// for them while they do not yet.
func TestAwaitDependenciesWaitsForThemToAnswer(t *testing.T) {
	hl := health.New(time.Second)
	var calls atomic.Int64
	hl.Add("database", func(context.Context) error {
		if calls.Add(1) < 3 {
			return errors.New("dial tcp: connection refused")
		}
		return nil
	})
	if err := awaitDependencies(context.Background(), hl, 10*time.Second, zerolog.Nop()); err != nil {
		t.Fatalf("awaitDependencies: %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d checks, want 3", n)
	}
}

// One that cannot reach them is refused in time, naming the dependency, so
// the running process keeps serving.
func TestAwaitDependenciesRefusesTheUpgradeInTime(t *testing.T) {
	hl := health.New(time.Second)
	hl.Add("database", func(context.Context) error { return nil })
	hl.Add("elasticsearch", func(context.Context) error { return errors.New("dial tcp: connection refused") })
	began := time.Now()
	err := awaitDependencies(context.Background(), hl, 600*time.Millisecond, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "elasticsearch does not answer") || !strings.Contains(err.Error(), "keeps serving") {
		t.Fatalf("awaitDependencies = %v, want a refusal naming elasticsearch", err)
	}
	if took := time.Since(began); took < 600*time.Millisecond || took > 3*time.Second {
		t.Errorf("refused after %s, want about 600ms", took)
	}
}
