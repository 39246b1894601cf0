package tracker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/model"
)

// scriptedJobs is a JobRepo whose batches answer from a script per
// job id; it records what the applier did.
type scriptedJobs struct {
	mu       sync.Mutex
	due      []model.OutboxJob
	script   map[int64][]batchStep
	hits     int // hits of the deleted tracker left to purge
	finished []int64
	retried  map[int64]error
	dueAt    map[int64]time.Time // when each retried job is due again
	tracker  model.Tracker
	matched  int
	// lost are the jobs another claim took: finishing or retrying them
	// changes nothing and says so.
	lost map[int64]bool
	// earlier is how many trackers an earlier rule of matching applied;
	// requeued how many RequeueEarlierRule queued, and requeueFails how
	// many of its calls are still to fail.
	earlier, requeued, requeueCalls, requeueFails int
}

type batchStep struct {
	res model.TrackerBatch
	err error
}

func (s *scriptedJobs) ClaimTrackerJob(context.Context, time.Duration) (*model.OutboxJob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.due) == 0 {
		return nil, nil
	}
	j := s.due[0]
	s.due = s.due[1:]
	j.Attempts++
	return &j, nil
}

func (s *scriptedJobs) ApplyTrackerBatch(_ context.Context, job *model.OutboxJob, _ int, _ time.Duration,
	match MatchFunc) (model.TrackerBatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	steps := s.script[job.ID]
	if len(steps) == 0 {
		return model.TrackerBatch{Done: true}, nil
	}
	s.script[job.ID] = steps[1:]
	if steps[0].res.Conversations > 0 {
		hits := match(&s.tracker, []model.Sentence{{Seq: 1, Text: "the price"}}, nil)
		s.matched += len(hits)
	}
	return steps[0].res, steps[0].err
}

func (s *scriptedJobs) PurgeTrackerHits(_ context.Context, _, _ int64, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(limit, s.hits)
	s.hits -= n
	return n, nil
}

func (s *scriptedJobs) FinishTrackerJob(_ context.Context, job *model.OutboxJob) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost[job.ID] {
		return true, nil
	}
	s.finished = append(s.finished, job.ID)
	return false, nil
}

func (s *scriptedJobs) RetryTrackerJob(_ context.Context, job *model.OutboxJob, at time.Time, cause error) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost[job.ID] {
		return true, nil
	}
	s.retried[job.ID] = cause
	if s.dueAt != nil {
		s.dueAt[job.ID] = at
	}
	return false, nil
}

func (s *scriptedJobs) RequeueEarlierRule(_ context.Context, limit int) (int, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requeueCalls++
	if s.requeueFails > 0 {
		s.requeueFails--
		return 0, 0, errors.New("connection refused")
	}
	n := min(limit, s.earlier)
	s.earlier -= n
	s.requeued += n
	return n, n, nil
}

func (s *scriptedJobs) state() ([]int64, map[int64]error, int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.finished), s.retried, s.hits, s.matched
}

// runApplier runs one worker over jobs until the test ends, and wakes it.
func runApplier(t *testing.T, jobs *scriptedJobs) {
	a := NewApplier(jobs, zerolog.Nop(), ApplierOptions{Workers: 1, PurgeSize: 1000, Poll: 10 * time.Millisecond})
	a.Start(t.Context())
	t.Cleanup(a.Stop)
	a.Notify()
}

func TestApplierRunsJobs(t *testing.T) {
	boom := errors.New("database went away")
	jobs := &scriptedJobs{
		due: []model.OutboxJob{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}},
		script: map[int64][]batchStep{
			1: {{res: model.TrackerBatch{Conversations: 50}}, {res: model.TrackerBatch{Conversations: 7}}, {res: model.TrackerBatch{Done: true}}},
			2: {{res: model.TrackerBatch{Superseded: true}}},
			3: {{res: model.TrackerBatch{TrackerGone: true}}},
			4: {{res: model.TrackerBatch{Conversations: 50}}, {err: boom}},
		},
		hits:    12_345,
		retried: map[int64]error{},
		tracker: tracker(1, model.AffiliationAnyone, "price"),
	}
	runApplier(t, jobs)
	deadline := time.Now().Add(5 * time.Second)
	for {
		finished, retried, left, matched := jobs.state()
		if len(finished) == 3 && len(retried) == 1 {
			slices.Sort(finished)
			if !slices.Equal(finished, []int64{1, 2, 3}) || !errors.Is(retried[4], boom) || left != 0 || matched != 3 {
				t.Fatalf("finished %v, retried %v, hits left %d, matched %d", finished, retried, left, matched)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("finished %v, retried %v, hits left %d", finished, retried, left)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// blockingPacer never lets a batch start, until ctx ends.
type blockingPacer struct{ waiting chan struct{} }

func (p blockingPacer) Wait(ctx context.Context) error {
	select {
	case p.waiting <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func TestApplierStopHandsBack(t *testing.T) {
	jobs := &scriptedJobs{due: []model.OutboxJob{{ID: 7}}, script: map[int64][]batchStep{}, retried: map[int64]error{}}
	pacer := blockingPacer{waiting: make(chan struct{}, 1)}
	a := NewApplier(jobs, zerolog.Nop(), ApplierOptions{Workers: 2, Pacer: pacer, Poll: time.Hour})
	a.Start(context.Background())
	a.Start(context.Background()) // no-op
	select {
	case <-pacer.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("the job was never claimed")
	}
	a.Stop()
	a.Stop() // no-op
	finished, retried, _, _ := jobs.state()
	if cause, ok := retried[7]; len(finished) != 0 || !ok || cause != nil {
		t.Errorf("finished %v, retried %v: want job 7 handed back without an error", finished, retried)
	}
}

// The retry delay grows with a job's failures in a row, not its claims: a
// long job claimed once per turn that fails for the first time retries
// within a second, and one that failed five times in a row waits 16-32 s.
func TestApplierBacksOffByFailuresNotClaims(t *testing.T) {
	boom := errors.New("database went away")
	jobs := &scriptedJobs{
		due:     []model.OutboxJob{{ID: 1, Attempts: 40}, {ID: 2, Attempts: 2, Failures: 5}},
		script:  map[int64][]batchStep{1: {{err: boom}}, 2: {{err: boom}}},
		retried: map[int64]error{},
		dueAt:   map[int64]time.Time{},
	}
	start := time.Now()
	a := NewApplier(jobs, zerolog.Nop(), ApplierOptions{Workers: 1, PurgeSize: 1000, Poll: 10 * time.Millisecond})
	a.Start(t.Context())
	a.Notify()
	deadline := time.Now().Add(5 * time.Second)
	for {
		jobs.mu.Lock()
		n := len(jobs.dueAt)
		jobs.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retried %v; want both jobs retried", jobs.retried)
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.Stop()
	if d := jobs.dueAt[1].Sub(start); d > time.Second+500*time.Millisecond {
		t.Errorf("the first failure of a job claimed 40 times retries in %s; want at most 1 s", d)
	}
	if d := jobs.dueAt[2].Sub(start); d < 16*time.Second || d > 33*time.Second {
		t.Errorf("the sixth failure in a row retries in %s; want 16-32 s", d)
	}
}

func TestCachedMatchCompilesPerVersion(t *testing.T) {
	match := cachedMatch()
	tr := tracker(1, model.AffiliationAnyone, "price")
	s := []model.Sentence{{Seq: 1, Text: "price and cost"}}
	if hits := match(&tr, s, nil); len(hits) != 1 || hits[0].Phrase != "price" {
		t.Fatalf("v1: %+v", hits)
	}
	tr2 := tracker(1, model.AffiliationAnyone, "cost")
	tr2.Version = 2
	if hits := match(&tr2, s, nil); len(hits) != 1 || hits[0].Phrase != "cost" {
		t.Fatalf("v2: %+v", hits)
	}
}

// failingJobs fails every claim, as a database that is down does.
type failingJobs struct {
	scriptedJobs
	claims atomic.Int32
}

func (f *failingJobs) ClaimTrackerJob(context.Context, time.Duration) (*model.OutboxJob, error) {
	f.claims.Add(1)
	return nil, errors.New("connection refused")
}

func TestApplierBacksOffWhileClaimsFail(t *testing.T) {
	jobs := &failingJobs{}
	a := NewApplier(jobs, zerolog.Nop(), ApplierOptions{Workers: 1, Poll: 10 * time.Millisecond, MaxBackoff: time.Second})
	a.Start(t.Context())
	time.Sleep(400 * time.Millisecond)
	a.Stop()
	// Unpaced it would try 40 times; backing off (20, 40, 80, 160 ms …) about 5.
	if n := jobs.claims.Load(); n < 2 || n > 8 {
		t.Errorf("%d claims in 400 ms", n)
	}
}

// A batch whose lease ran out ends the job's run here: no further batch,
// neither finished nor retried (which would move another claim's lease);
// the job is the next claim's.
func TestApplierLeavesAJobWhoseLeaseRanOut(t *testing.T) {
	jobs := &scriptedJobs{
		due:     []model.OutboxJob{{ID: 5}},
		script:  map[int64][]batchStep{5: {{res: model.TrackerBatch{LeaseLost: true}}, {res: model.TrackerBatch{Conversations: 50}}}},
		retried: map[int64]error{},
		tracker: tracker(1, model.AffiliationAnyone, "price"),
	}
	runApplier(t, jobs)
	deadline := time.Now().Add(5 * time.Second)
	for {
		jobs.mu.Lock()
		left := len(jobs.script[5])
		jobs.mu.Unlock()
		if left < 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job's first batch never ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	finished, retried, _, matched := jobs.state()
	jobs.mu.Lock()
	left := len(jobs.script[5])
	jobs.mu.Unlock()
	if len(finished) != 0 || len(retried) != 0 || matched != 0 || left != 1 {
		t.Fatalf("after a lost lease: finished %v, retried %v, matched %d, batches left %d; want the job left alone", finished, retried, matched, left)
	}
}

// A job another claim took after this one's lease ran out is neither
// finished nor retried here: the applier says so and goes on with the next
// job.
func TestApplierLeavesAJobClaimedAgainToItsHolder(t *testing.T) {
	jobs := &scriptedJobs{
		due: []model.OutboxJob{{ID: 1}, {ID: 2}, {ID: 3}},
		script: map[int64][]batchStep{
			1: {{res: model.TrackerBatch{Done: true}}},
			2: {{err: errors.New("deadlock")}},
			3: {{res: model.TrackerBatch{Done: true}}},
		},
		retried: map[int64]error{},
		lost:    map[int64]bool{1: true, 2: true},
		tracker: tracker(1, model.AffiliationAnyone, "price"),
	}
	var (
		mu     sync.Mutex
		warned []string
	)
	log := zerolog.Nop().Level(zerolog.WarnLevel).Hook(zerolog.HookFunc(func(_ *zerolog.Event, _ zerolog.Level, msg string) {
		mu.Lock()
		defer mu.Unlock()
		warned = append(warned, msg)
	}))
	a := NewApplier(jobs, log, ApplierOptions{Workers: 1, Poll: 10 * time.Millisecond})
	a.Start(t.Context())
	t.Cleanup(a.Stop)
	a.Notify()
	deadline := time.Now().Add(5 * time.Second)
	for {
		finished, retried, _, _ := jobs.state()
		if len(finished) > 0 {
			if !slices.Equal(finished, []int64{3}) || len(retried) != 0 {
				t.Fatalf("finished %v, retried %v; want only job 3 finished", finished, retried)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job after the lost ones never finished")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"; not finished, left to the claim that holds it", "; not rescheduled, left to the claim that holds it"} {
		if !slices.ContainsFunc(warned, func(m string) bool { return strings.HasSuffix(m, want) }) {
			t.Errorf("warnings %q: none ends %q", warned, want)
		}
	}
}

// queuedJobs is a JobRepo with one line of due jobs: a claim takes the
// first, a retry puts the job back at the end. Job 1 never runs out of
// conversations; every other job is done at its first batch.
type queuedJobs struct {
	mu       sync.Mutex
	line     []model.OutboxJob
	claims   map[int64]int
	finished []int64
}

func (q *queuedJobs) ClaimTrackerJob(context.Context, time.Duration) (*model.OutboxJob, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.line) == 0 {
		return nil, nil
	}
	j := q.line[0]
	q.line = q.line[1:]
	j.Attempts++
	q.claims[j.ID]++
	return &j, nil
}

func (q *queuedJobs) ApplyTrackerBatch(_ context.Context, job *model.OutboxJob, _ int, _ time.Duration, _ MatchFunc) (model.TrackerBatch, error) {
	time.Sleep(time.Millisecond)
	switch job.ID {
	case 1:
		return model.TrackerBatch{Conversations: 50}, nil
	case 3:
		return model.TrackerBatch{TrackerGone: true}, nil
	}
	return model.TrackerBatch{Done: true}, nil
}

// PurgeTrackerHits always finds a full step to delete: job 3's tracker
// has more hits than a turn purges.
func (q *queuedJobs) PurgeTrackerHits(_ context.Context, _, _ int64, limit int) (int, error) {
	time.Sleep(time.Millisecond)
	return limit, nil
}

func (q *queuedJobs) FinishTrackerJob(_ context.Context, job *model.OutboxJob) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.finished = append(q.finished, job.ID)
	return false, nil
}

func (q *queuedJobs) RequeueEarlierRule(context.Context, int) (int, int, error) { return 0, 0, nil }

func (q *queuedJobs) RetryTrackerJob(_ context.Context, job *model.OutboxJob, _ time.Time, _ error) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.line = append(q.line, model.OutboxJob{ID: job.ID, TenantID: 1})
	return false, nil
}

// A job over more conversations than a turn covers, or the purge of a
// deleted tracker with more hits than a turn deletes, does not hold its
// worker until it ends: at the end of its turn it goes back in line, the
// job queued behind it (another tenant's) runs, and then it goes on.
func TestApplierHandsBackALongJobAtTheEndOfItsTurn(t *testing.T) {
	for _, long := range []int64{1, 3} {
		jobs := &queuedJobs{line: []model.OutboxJob{{ID: long, TenantID: 1}, {ID: 2, TenantID: 2}}, claims: map[int64]int{}}
		a := NewApplier(jobs, zerolog.Nop(), ApplierOptions{Workers: 1, Poll: 10 * time.Millisecond, Turn: 50 * time.Millisecond})
		a.Start(t.Context())
		a.Notify()
		deadline := time.Now().Add(5 * time.Second)
		for {
			jobs.mu.Lock()
			finished, again := slices.Clone(jobs.finished), jobs.claims[long]
			jobs.mu.Unlock()
			if slices.Equal(finished, []int64{2}) && again >= 2 {
				break
			}
			if len(finished) > 1 || time.Now().After(deadline) {
				a.Stop()
				t.Fatalf("job %d: finished %v, the long job claimed %d times; want job 2 done while the long one goes on", long, finished, again)
			}
			time.Sleep(5 * time.Millisecond)
		}
		a.Stop()
	}
}

// Started after an upgrade of the rule of matching, the Applier queues
// every tracker an earlier rule applied, a batch at a time until a batch
// comes back short, once; a database that fails meanwhile is asked again.
func TestApplierRequeuesTrackersOfAnEarlierRuleOnce(t *testing.T) {
	jobs := &scriptedJobs{earlier: 2*reapplyBatch + 50, requeueFails: 2, retried: map[int64]error{}}
	a := NewApplier(jobs, zerolog.Nop(), ApplierOptions{Workers: 1, Poll: 10 * time.Millisecond})
	a.Start(t.Context())
	deadline := time.Now().Add(5 * time.Second)
	for {
		jobs.mu.Lock()
		requeued, calls := jobs.requeued, jobs.requeueCalls
		jobs.mu.Unlock()
		if requeued == 2*reapplyBatch+50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d trackers requeued in %d calls", requeued, calls)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	a.Stop()
	// Two failed calls, then three batches: 100, 100, 50.
	if jobs.requeueCalls != 5 || jobs.earlier != 0 {
		t.Errorf("%d calls, %d trackers left; want 5 and 0", jobs.requeueCalls, jobs.earlier)
	}
}
