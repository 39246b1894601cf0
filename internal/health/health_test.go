package health_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/health"
)

// Calls while the checks run share their report: a flood of /readyz runs
// the checks once at a time, and a caller that leaves fails no one's.
func TestReadyCallsMeanwhileShareOneRun(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	h := health.New(5 * time.Second)
	h.Add("database", func(ctx context.Context) error {
		runs.Add(1)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	h.Serving()

	first, leave := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	reports := make(chan health.Status, 50)
	wg.Add(1)
	go func() { defer wg.Done(); reports <- h.Ready(first) }()
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for range 49 {
		wg.Add(1)
		go func() { defer wg.Done(); reports <- h.Ready(context.Background()) }()
	}
	time.Sleep(50 * time.Millisecond)
	leave()
	time.Sleep(10 * time.Millisecond)
	close(release)
	wg.Wait()
	close(reports)
	for st := range reports {
		if !st.Ready {
			t.Fatalf("report %+v, want ready", st)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("checks ran %d times for 50 calls, want 1", n)
	}

	if st := h.Ready(context.Background()); !st.Ready || runs.Load() != 2 {
		t.Fatalf("a later call: %+v after %d runs, want a new run", st, runs.Load())
	}
}

// The report names a failing dependency but not its error, which can hold
// addresses, user names and paths: /readyz answers anonymous callers. The
// error is told to OnFailure, once until it changes.
func TestReadyReportHoldsNoErrorText(t *testing.T) {
	secret := errors.New("dial tcp 10.1.2.3:3306: Access denied for user 'mgv'")
	fail := secret
	h := health.New(time.Second)
	h.Add("database", func(context.Context) error { return fail })
	var told []string
	h.OnFailure(func(check string, err error) { told = append(told, check+": "+err.Error()) })
	h.Serving()

	for range 3 {
		st := h.Ready(context.Background())
		if st.Ready || st.Failed != "database" || st.Checks["database"] != "error" {
			t.Fatalf("report %+v, want database failed with no detail", st)
		}
	}
	fail = nil
	if st := h.Ready(context.Background()); !st.Ready {
		t.Fatalf("report %+v, want ready", st)
	}
	fail = secret
	h.Ready(context.Background())
	want := "database: " + secret.Error()
	if len(told) != 2 || told[0] != want || told[1] != want {
		t.Fatalf("told %q, want the error once per failure", told)
	}
}

// A report judged by some checks only: ready while those answer, whatever
// the others say; not ready, naming the first of them, when one does not;
// a starting or draining process is never ready; an unknown name is an
// error.
func TestRequiringJudgesByTheNamedChecks(t *testing.T) {
	h := health.New(time.Second)
	var dbDown, searchDown atomic.Bool
	h.Add("database", func(context.Context) error {
		if dbDown.Load() {
			return errors.New("connection refused")
		}
		return nil
	})
	h.Add("search_index", func(context.Context) error {
		if searchDown.Load() {
			return errors.New("no index")
		}
		return nil
	})
	judge := func(names ...string) health.Status {
		t.Helper()
		if err := h.Known(names); err != nil {
			t.Fatal(err)
		}
		return h.Requiring(h.Check(context.Background()), names)
	}
	if st := h.Requiring(h.Ready(context.Background()), []string{"database"}); st.Ready || st.Failed != "starting" {
		t.Fatalf("a starting process: %+v", st)
	}
	h.Serving()
	searchDown.Store(true)
	if st := judge("database"); !st.Ready || st.Checks["search_index"] != "error" {
		t.Fatalf("search down, database required: %+v; want ready, the search check still reported", st)
	}
	if st := judge("search_index", "database"); st.Ready || st.Failed != "search_index" {
		t.Fatalf("search down, both required: %+v", st)
	}
	dbDown.Store(true)
	if st := judge("search_index", "database"); st.Ready || st.Failed != "database" {
		t.Fatalf("both down: %+v; want the first by name", st)
	}
	if err := h.Known([]string{"database", "disk"}); err == nil || !strings.Contains(err.Error(), `"disk"`) {
		t.Fatalf("an unknown check: %v; want an error naming it", err)
	}
	// A name as long as a request line allows is not repeated whole.
	long := strings.Repeat("x", 8000)
	if err := h.Known([]string{long}); err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), `xxx"…`) {
		t.Fatalf("a long unknown name: %d bytes of error; want it cut", len(fmt.Sprint(err)))
	}
	h.Drain()
	if st := h.Requiring(h.Ready(context.Background()), []string{"database"}); st.Ready || st.Failed != "draining" {
		t.Fatalf("a draining process: %+v", st)
	}
}
