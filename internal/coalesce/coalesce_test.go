package coalesce

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// wait is how long a test waits for something that should happen soon.
const wait = 10 * time.Second

func recv[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(wait):
		t.Fatalf("no %s after %s", what, wait)
		var zero T
		return zero
	}
}

func none[T any](t *testing.T, c <-chan T, within time.Duration, what string) {
	t.Helper()
	select {
	case <-c:
		t.Fatalf("unexpected %s", what)
	case <-time.After(within):
	}
}

// Requests made while a run waits its delay are served by that run.
func TestRequestsWhileWaitingShareOneRun(t *testing.T) {
	var runs atomic.Int32
	ran := make(chan error, 10)
	j := New(Options{Delay: 100 * time.Millisecond, Run: func(context.Context) error {
		runs.Add(1)
		return nil
	}, Ran: func(err error) { ran <- err }})
	j.Start()
	defer j.Stop()
	for range 20 {
		j.Ask()
		time.Sleep(time.Millisecond)
	}
	if err := recv(t, ran, "run"); err != nil {
		t.Fatal(err)
	}
	none(t, ran, 300*time.Millisecond, "second run for requests the first one served")
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs, want 1", n)
	}
	// A request after the run is a new run.
	j.Ask()
	if err := recv(t, ran, "run for a later request"); err != nil {
		t.Fatal(err)
	}
}

// A request made during a run is served by another run, which begins no
// earlier than Gap after the first ended; Gap is given how long that took.
func TestGapBetweenRuns(t *testing.T) {
	const took, gap = 50 * time.Millisecond, 300 * time.Millisecond
	ends := make(chan time.Time, 10)
	begins := make(chan time.Time, 10)
	var gotTook atomic.Int64
	var j *Job
	j = New(Options{
		Gap: func(d time.Duration) time.Duration { gotTook.Store(int64(d)); return gap },
		Run: func(context.Context) error {
			begins <- time.Now()
			time.Sleep(took)
			if len(begins) == 1 {
				j.Ask() // a request during the run
			}
			ends <- time.Now()
			return nil
		},
	})
	j.Start()
	defer j.Stop()
	j.Ask()
	end := recv(t, ends, "first run")
	recv(t, begins, "first run's start")
	second := recv(t, begins, "second run")
	if d := second.Sub(end); d < gap {
		t.Fatalf("the second run began %s after the first ended, want at least %s", d, gap)
	}
	if d := time.Duration(gotTook.Load()); d < took {
		t.Fatalf("Gap was given %s, the run took at least %s", d, took)
	}
}

// A failed run is tried again; a run that succeeds is not.
func TestFailedRunRetried(t *testing.T) {
	var runs atomic.Int32
	ran := make(chan error, 10)
	j := New(Options{Delay: time.Millisecond, Run: func(context.Context) error {
		if runs.Add(1) < 3 {
			return errors.New("busy")
		}
		return nil
	}, Ran: func(err error) { ran <- err }})
	j.Start()
	defer j.Stop()
	j.Ask()
	for i := range 3 {
		err := recv(t, ran, "run")
		if (err != nil) != (i < 2) {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	none(t, ran, 100*time.Millisecond, "run after a success")
}

// Stop ends the context of a run in progress, waits for the run, and the
// run's failure is not retried.
func TestStopCancelsARunAndWaits(t *testing.T) {
	began := make(chan struct{})
	var ended, runs atomic.Int32
	j := New(Options{Run: func(ctx context.Context) error {
		runs.Add(1)
		close(began)
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond)
		ended.Store(1)
		return ctx.Err()
	}})
	j.Start()
	j.Ask()
	recv(t, began, "run")
	j.Ask()
	j.Stop()
	if ended.Load() != 1 {
		t.Fatal("Stop returned before the run ended")
	}
	j.Stop() // again: nothing
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs, want 1", n)
	}
}

// A request made before Start is served after it; a job stopped before
// Start never runs.
func TestStartAndStopOrder(t *testing.T) {
	ran := make(chan error, 1)
	j := New(Options{Run: func(context.Context) error { return nil }, Ran: func(err error) { ran <- err }})
	j.Ask()
	none(t, ran, 50*time.Millisecond, "run before Start")
	j.Start()
	j.Start()
	if err := recv(t, ran, "run of the request made before Start"); err != nil {
		t.Fatal(err)
	}
	j.Stop()

	stopped := New(Options{Run: func(context.Context) error { t.Error("a stopped job ran"); return nil }})
	stopped.Stop()
	stopped.Ask()
	stopped.Start()
	time.Sleep(50 * time.Millisecond)
	stopped.Stop()
}
