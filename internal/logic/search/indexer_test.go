package search

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/search"
)

type fakeJobs struct {
	mu      sync.Mutex
	jobs    map[int64]*model.OutboxJob
	retried map[int64]error // the cause of each job's last retry
}

func (f *fakeJobs) Claim(_ context.Context, limit int, lease time.Duration) ([]model.OutboxJob, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []model.OutboxJob
	for _, j := range f.jobs {
		if len(out) < limit && !j.NextAttemptAt.After(time.Now()) {
			j.Attempts++
			j.NextAttemptAt = time.Now().Add(lease)
			out = append(out, *j)
		}
	}
	return out, nil
}

// held is the job j's claim holds still (its attempts), nil when another
// claim took it since or it is gone.
func (f *fakeJobs) held(j model.OutboxJob) *model.OutboxJob {
	if cur := f.jobs[j.ID]; cur != nil && cur.Attempts == j.Attempts {
		return cur
	}
	return nil
}

func (f *fakeJobs) Done(_ context.Context, jobs []model.OutboxJob) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lost := 0
	for _, j := range jobs {
		switch {
		case f.held(j) != nil:
			delete(f.jobs, j.ID)
		case f.jobs[j.ID] != nil:
			lost++
		}
	}
	return lost, nil
}

func (f *fakeJobs) Retry(_ context.Context, j model.OutboxJob, at time.Time, cause error) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.held(j)
	if cur == nil {
		return f.jobs[j.ID] != nil, nil
	}
	cur.NextAttemptAt = at
	f.retried[j.ID] = cause
	if cause != nil {
		cur.Failures++
	} else {
		cur.Failures = 0
	}
	return false, nil
}

func (f *fakeJobs) Release(context.Context, []model.OutboxJob) (int, error) { return 0, nil }

func (f *fakeJobs) Backlog(context.Context) (int64, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.jobs)), time.Time{}, nil
}

// fakeDocs has every conversation but 404, at stamp.Version; a
// transcript known is taken from known, the others "read" as one sentence
// "stored".
type fakeDocs struct{ stamp, after Stamp }

func (f *fakeDocs) Load(_ context.Context, ids []int64, known KnownTranscripts) (map[int64]*search.Doc, map[int64]Stamp, error) {
	docs, stamps := map[int64]*search.Doc{}, map[int64]Stamp{}
	for _, id := range ids {
		if id == 404 {
			continue
		}
		d := &search.Doc{ConversationID: id, Version: f.stamp.Version}
		sentences, ok := []model.Sentence(nil), false
		if known != nil {
			sentences, ok = known(id, f.stamp.Version)
		}
		if !ok {
			sentences = []model.Sentence{{Text: "stored"}}
		}
		for _, s := range sentences {
			d.Sentences = append(d.Sentences, search.Sentence{Text: s.Text})
		}
		docs[id], stamps[id] = d, f.stamp
	}
	return docs, stamps, nil
}

func (f *fakeDocs) Stamps(_ context.Context, ids []int64) (map[int64]Stamp, error) {
	out := map[int64]Stamp{}
	for _, id := range ids {
		out[id] = f.after
	}
	return out, nil
}

type fakeEngine struct {
	search.Engine
	fail    error
	itemErr map[int64]error
	onWrite func() // called before each write, outside the lock

	mu      sync.Mutex
	written []search.Op
}

func (e *fakeEngine) Write(_ context.Context, ops []search.Op) ([]error, error) {
	if e.onWrite != nil {
		e.onWrite()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		return nil, e.fail
	}
	out := make([]error, len(ops))
	for i, op := range ops {
		out[i] = e.itemErr[op.ConversationID]
	}
	e.written = append(e.written, ops...)
	return out, nil
}

func TestIndexerNeverDropsAJob(t *testing.T) {
	jobs := &fakeJobs{retried: map[int64]error{}, jobs: map[int64]*model.OutboxJob{
		1: {ID: 1, ConversationID: 10, Kind: model.OutboxTranscript},
		2: {ID: 2, ConversationID: 10, Kind: model.OutboxConversation},
		3: {ID: 3, ConversationID: 11, Kind: model.OutboxTranscript},
		4: {ID: 4, ConversationID: 404, Kind: model.OutboxConversation},
	}}
	docs := &fakeDocs{}
	engine := &fakeEngine{fail: errors.New("cluster down")}
	ix, err := NewIndexer(engine, jobs, docs, IndexerOptions{BatchSize: 10, PollInterval: time.Millisecond, Lease: time.Minute, MaxBackoff: time.Millisecond, MaxLag: time.Minute}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if n, err := ix.RunOnce(ctx); err == nil || n != 4 || len(jobs.jobs) != 4 || len(jobs.retried) != 4 {
		t.Fatalf("a failed bulk: n=%d err=%v jobs=%d retried=%d", n, err, len(jobs.jobs), len(jobs.retried))
	}
	// One item fails, the rest succeeds; the missing conversation is deleted.
	engine.fail = nil
	engine.itemErr = map[int64]error{11: errors.New("mapping")}
	time.Sleep(5 * time.Millisecond)
	if _, err := ix.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := jobs.jobs[3]; !ok || len(jobs.jobs) != 1 {
		t.Fatalf("left jobs %v", jobs.jobs)
	}
	var deleted bool
	for _, op := range engine.written {
		deleted = deleted || (op.ConversationID == 404 && op.Doc == nil)
	}
	if !deleted {
		t.Error("a conversation gone from the database was not removed from the index")
	}
	// A conversation that changed while being indexed runs again.
	engine.itemErr = nil
	docs.after = Stamp{Version: 2}
	time.Sleep(5 * time.Millisecond)
	if _, err := ix.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if r, ok := jobs.retried[3]; jobs.jobs[3] == nil || !ok || r != nil {
		t.Fatalf("changed conversation: jobs %v, retried %v", jobs.jobs, jobs.retried)
	}
	docs.after = docs.stamp
	time.Sleep(5 * time.Millisecond)
	if _, err := ix.RunOnce(ctx); err != nil || len(jobs.jobs) != 0 {
		t.Fatalf("jobs left %v, %v", jobs.jobs, err)
	}
}

// The retry delay grows with a job's failures in a row, not its claims: a
// job a draining process handed over many times retries its first failure
// after about the poll interval, not the longest delay.
func TestIndexerBacksOffByFailuresNotClaims(t *testing.T) {
	jobs := &fakeJobs{retried: map[int64]error{}, jobs: map[int64]*model.OutboxJob{
		1: {ID: 1, ConversationID: 10, Kind: model.OutboxTranscript, Attempts: 30},
		2: {ID: 2, ConversationID: 20, Kind: model.OutboxTranscript, Attempts: 3, Failures: 4},
	}}
	engine := &fakeEngine{fail: errors.New("cluster down")}
	ix, err := NewIndexer(engine, jobs, &fakeDocs{}, IndexerOptions{BatchSize: 10, PollInterval: 100 * time.Millisecond, Lease: time.Minute, MaxBackoff: time.Hour, MaxLag: time.Minute}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := ix.RunOnce(t.Context()); err == nil || len(jobs.retried) != 2 {
		t.Fatalf("a failed bulk: err=%v retried=%v", err, jobs.retried)
	}
	if d := jobs.jobs[1].NextAttemptAt.Sub(start); d > 200*time.Millisecond {
		t.Errorf("the first failure of a job claimed 30 times retries in %s; want at most the poll interval", d)
	}
	if d := jobs.jobs[2].NextAttemptAt.Sub(start); d < 800*time.Millisecond || d > 1700*time.Millisecond {
		t.Errorf("the fifth failure in a row retries in %s; want 0.8-1.6 s", d)
	}
	if jobs.jobs[1].Failures != 1 || jobs.jobs[2].Failures != 5 {
		t.Errorf("failures %d and %d; want 1 and 5", jobs.jobs[1].Failures, jobs.jobs[2].Failures)
	}
}

// A batch that outlasted its lease while another instance claimed its jobs
// again neither deletes the one it indexed nor reschedules the one that
// failed: both stay, under the other claim's lease, for that claim.
func TestIndexerLeavesJobsClaimedAgainToTheirHolder(t *testing.T) {
	const lease = 20 * time.Millisecond
	jobs := &fakeJobs{retried: map[int64]error{}, jobs: map[int64]*model.OutboxJob{
		1: {ID: 1, ConversationID: 10, Kind: model.OutboxTranscript},
		2: {ID: 2, ConversationID: 20, Kind: model.OutboxTranscript},
	}}
	ctx := t.Context()
	var holder []model.OutboxJob
	engine := &fakeEngine{itemErr: map[int64]error{20: errors.New("mapping")}, onWrite: func() {
		// The bulk write stalls past the lease; another instance claims.
		time.Sleep(2 * lease)
		holder, _ = jobs.Claim(ctx, 10, time.Minute)
	}}
	ix, err := NewIndexer(engine, jobs, &fakeDocs{}, IndexerOptions{BatchSize: 10, PollInterval: time.Millisecond, Lease: lease, MaxBackoff: time.Millisecond, MaxLag: time.Minute}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ix.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("the stalled batch: n=%d err=%v", n, err)
	}
	if len(holder) != 2 {
		t.Fatalf("the other claim took %+v", holder)
	}
	for id, j := range jobs.jobs {
		if j.Attempts != 2 || time.Until(j.NextAttemptAt) < 30*time.Second {
			t.Errorf("job %d: %+v; want the other claim's lease", id, j)
		}
	}
	if len(jobs.jobs) != 2 || len(jobs.retried) != 0 {
		t.Fatalf("after the stalled batch: jobs %v, retried %v; want both left to the other claim", jobs.jobs, jobs.retried)
	}
	if lost, err := jobs.Done(ctx, holder); err != nil || lost != 0 || len(jobs.jobs) != 0 {
		t.Fatalf("the holder's done: %d lost, %v, jobs left %v", lost, err, jobs.jobs)
	}
}

func TestIndexerBuildsCommittedTranscriptsFromMemory(t *testing.T) {
	jobs := &fakeJobs{retried: map[int64]error{}, jobs: map[int64]*model.OutboxJob{}}
	docs := &fakeDocs{stamp: Stamp{Version: 3}, after: Stamp{Version: 3}}
	engine := &fakeEngine{}
	ix, err := NewIndexer(engine, jobs, docs, IndexerOptions{BatchSize: 10, PollInterval: time.Millisecond, Lease: time.Minute, MaxBackoff: time.Millisecond, MaxLag: time.Minute}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	written := func(id int64) []string {
		engine.mu.Lock()
		defer engine.mu.Unlock()
		var texts []string
		for _, op := range engine.written {
			if op.ConversationID == id && op.Doc != nil {
				texts = nil
				for _, s := range op.Doc.Sentences {
					texts = append(texts, s.Text)
				}
			}
		}
		return texts
	}
	commit := func(id, version int64, texts ...string) {
		w := &conversation.TranscriptWrite{Conversation: model.Conversation{ID: id, TranscriptVersion: version}}
		for i, text := range texts {
			w.Sentences = append(w.Sentences, model.Sentence{ConversationID: id, Seq: i, Text: text})
		}
		ix.Committed(w)
		jobs.add(model.OutboxJob{ID: id, ConversationID: id, Kind: model.OutboxTranscript, Version: version})
	}
	// 1 committed the version the database has, 2 an older one, 3 nothing
	// in this process.
	commit(1, 3, "from", "memory")
	commit(2, 2, "stale")
	jobs.add(model.OutboxJob{ID: 3, ConversationID: 3, Kind: model.OutboxTranscript, Version: 3})
	if _, err := ix.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]string{1: "[from memory]", 2: "[stored]", 3: "[stored]"} {
		if got := fmt.Sprint(written(id)); got != want {
			t.Errorf("conversation %d indexed with %s, want %s", id, got, want)
		}
	}
	if got := testutil.ToFloat64(ix.reused); got != 1 {
		t.Errorf("reused %v transcripts, want 1", got)
	}
	// Indexed, the kept transcripts are let go; so is the older version
	// the database had moved past.
	if _, n := ix.recent.size(); n != 0 {
		t.Errorf("%d transcripts still kept after indexing", n)
	}
	// Kept until indexed: a failed write leaves it for the retry.
	docs.stamp, docs.after = Stamp{Version: 4}, Stamp{Version: 4}
	commit(1, 4, "again")
	engine.fail = errors.New("cluster down")
	if _, err := ix.RunOnce(t.Context()); err == nil {
		t.Fatal("a failed bulk reported no error")
	}
	engine.fail = nil
	time.Sleep(5 * time.Millisecond)
	if _, err := ix.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(written(1)); got != "[again]" {
		t.Errorf("retried with %s", got)
	}
}

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: 200 * time.Millisecond, 3: 800 * time.Millisecond, 20: 10 * time.Second} {
		got := backoff(attempt, 200*time.Millisecond, 10*time.Second)
		if got < want/2 || got > want {
			t.Errorf("backoff(%d) = %s, want within [%s, %s]", attempt, got, want/2, want)
		}
	}
}

func indexerFor(t *testing.T, engine search.Engine, jobs *fakeJobs, o IndexerOptions) *Indexer {
	t.Helper()
	o.Lease, o.MaxBackoff, o.MaxLag = time.Minute, time.Millisecond, time.Minute
	ix, err := NewIndexer(engine, jobs, &fakeDocs{}, o, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Stop(context.Background()) })
	return ix
}

func (f *fakeJobs) add(j model.OutboxJob) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[j.ID] = &j
}

// waitFor fails the test when c does not deliver; the bound only keeps a
// broken indexer from hanging the run.
func waitFor(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

func TestIndexerNotifyEndsTheIdleWait(t *testing.T) {
	wrote := make(chan struct{}, 10)
	engine := &fakeEngine{onWrite: func() { wrote <- struct{}{} }}
	jobs := &fakeJobs{retried: map[int64]error{}, jobs: map[int64]*model.OutboxJob{}}
	// Polled hourly, a job is only ever seen when Notify wakes a worker.
	ix := indexerFor(t, engine, jobs, IndexerOptions{BatchSize: 10, Workers: 2, PollInterval: time.Hour})
	ix.Start()
	for id := int64(1); id <= 3; id++ {
		// Both workers are idle after their first empty claim; the job
		// may also land before that claim, which finds it either way.
		jobs.add(model.OutboxJob{ID: id, ConversationID: 10 + id, Kind: model.OutboxTranscript})
		ix.Notify()
		waitFor(t, wrote, fmt.Sprintf("indexing job %d after Notify", id))
	}
	ix.Notify()
	ix.Notify() // never blocks, whether or not a worker waits
}

func TestIndexerWorkersWriteSideBySide(t *testing.T) {
	inside, release := make(chan struct{}, 2), make(chan struct{})
	engine := &fakeEngine{onWrite: func() {
		inside <- struct{}{}
		<-release
	}}
	jobs := &fakeJobs{retried: map[int64]error{}, jobs: map[int64]*model.OutboxJob{}}
	for id := int64(1); id <= 2; id++ {
		jobs.add(model.OutboxJob{ID: id, ConversationID: 10 + id, Kind: model.OutboxTranscript})
	}
	// One job per batch: the second is written while the first still is.
	ix := indexerFor(t, engine, jobs, IndexerOptions{BatchSize: 1, Workers: 2, PollInterval: time.Hour})
	ix.Start()
	waitFor(t, inside, "the first write")
	waitFor(t, inside, "a second write while the first is in progress")
	close(release)
	if err := ix.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(jobs.jobs) != 0 || len(engine.written) != 2 {
		t.Fatalf("jobs left %v, written %d", jobs.jobs, len(engine.written))
	}
}

// refreshingEngine is an engine whose writes need a refresh; each refresh
// reports how many ops had been written by then.
type refreshingEngine struct {
	*fakeEngine
	fail      error
	refreshes chan int
}

func (e *refreshingEngine) Refresh(context.Context) error {
	if e.fail != nil {
		return e.fail
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refreshes <- len(e.written)
	return nil
}

func TestIndexerRefreshesOnceCaughtUp(t *testing.T) {
	engine := &refreshingEngine{fakeEngine: &fakeEngine{}, refreshes: make(chan int, 10)}
	jobs := &fakeJobs{retried: map[int64]error{}, jobs: map[int64]*model.OutboxJob{}}
	for id := int64(1); id <= 3; id++ {
		jobs.add(model.OutboxJob{ID: id, ConversationID: 10 + id, Kind: model.OutboxTranscript})
	}
	// Polled hourly: the refresh comes from catching up, not from a poll.
	ix := indexerFor(t, engine, jobs, IndexerOptions{BatchSize: 10, Workers: 2, PollInterval: time.Hour, CatchUpRefresh: time.Millisecond})
	ix.Start()
	engine.waitRefresh(t, 3)
}

// waitRefresh waits for the first refresh and checks it came after
// written ops.
func (e *refreshingEngine) waitRefresh(t *testing.T, written int) {
	t.Helper()
	select {
	case n := <-e.refreshes:
		if n != written {
			t.Fatalf("refreshed after %d of %d writes", n, written)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh after the indexer caught up")
	}
}

// While jobs keep coming, batch after batch, the indexer does not
// refresh; it does once a claim finds nothing.
func TestIndexerRefreshesOnlyWhenNothingIsDue(t *testing.T) {
	engine := &refreshingEngine{fakeEngine: &fakeEngine{}, refreshes: make(chan int, 10)}
	jobs := &fakeJobs{retried: map[int64]error{}, jobs: map[int64]*model.OutboxJob{}}
	jobs.add(model.OutboxJob{ID: 1, ConversationID: 11, Kind: model.OutboxTranscript})
	// Each write brings the next job, until the fifth.
	next := int64(1)
	engine.onWrite = func() {
		if next < 5 {
			next++
			jobs.add(model.OutboxJob{ID: next, ConversationID: 10 + next, Kind: model.OutboxTranscript})
		}
	}
	ix := indexerFor(t, engine, jobs, IndexerOptions{BatchSize: 10, Workers: 1, PollInterval: time.Hour, CatchUpRefresh: time.Millisecond})
	ix.Start()
	engine.waitRefresh(t, 5)
	if len(engine.refreshes) != 0 {
		t.Fatalf("%d more refreshes", len(engine.refreshes))
	}
}

func TestCatchUpRefreshRules(t *testing.T) {
	engine := &refreshingEngine{fakeEngine: &fakeEngine{}, refreshes: make(chan int, 10)}
	jobs := &fakeJobs{retried: map[int64]error{}, jobs: map[int64]*model.OutboxJob{}}
	ix := indexerFor(t, engine, jobs, IndexerOptions{BatchSize: 10, PollInterval: time.Hour, CatchUpRefresh: time.Hour})
	ctx := context.Background()
	refreshed := func() int { return len(engine.refreshes) }
	write := func(id int64) {
		t.Helper()
		jobs.add(model.OutboxJob{ID: id, ConversationID: 10 + id, Kind: model.OutboxTranscript})
		if n, err := ix.RunOnce(ctx); n != 1 || err != nil {
			t.Fatalf("RunOnce: %d jobs, %v", n, err)
		}
	}

	if again := ix.catchUpRefresh(ctx); again != 0 || refreshed() != 0 {
		t.Fatalf("nothing written: refreshed %d times, ask again in %s", refreshed(), again)
	}
	write(1)
	ix.inFlight.Add(1) // another batch is still being written
	if ix.catchUpRefresh(ctx); refreshed() != 0 {
		t.Fatal("refreshed while a batch was in flight")
	}
	ix.inFlight.Add(-1)
	if ix.catchUpRefresh(ctx); refreshed() != 1 {
		t.Fatalf("caught up after a write: %d refreshes, want 1", refreshed())
	}
	if ix.catchUpRefresh(ctx); refreshed() != 1 {
		t.Fatal("refreshed again with nothing new written")
	}
	// Within CatchUpRefresh of the last refresh: wait, and say how long.
	write(2)
	if again := ix.catchUpRefresh(ctx); refreshed() != 1 || again <= 0 || again > time.Hour {
		t.Fatalf("within the gap: %d refreshes, ask again in %s", refreshed(), again)
	}
	ix.refreshed = time.Time{} // the gap has passed
	engine.fail = errors.New("cluster down")
	if ix.catchUpRefresh(ctx); refreshed() != 1 || !ix.dirty.Load() {
		t.Fatal("a failed refresh must leave the writes to be refreshed")
	}
	engine.fail = nil
	ix.refreshed = time.Time{}
	if ix.catchUpRefresh(ctx); refreshed() != 2 {
		t.Fatalf("after the failure: %d refreshes, want 2", refreshed())
	}

	// An engine that needs no refresh, or CatchUpRefresh 0, never gets one.
	plain := indexerFor(t, &fakeEngine{}, jobs, IndexerOptions{BatchSize: 10, PollInterval: time.Hour, CatchUpRefresh: time.Millisecond})
	off := indexerFor(t, engine, jobs, IndexerOptions{BatchSize: 10, PollInterval: time.Hour})
	for _, x := range []*Indexer{plain, off} {
		if x.refresher != nil {
			t.Fatal("a catch-up refresher where none applies")
		}
	}
}

// deadlineEngine records the deadline of each write and leaves the
// conversations of notSent unsent, as the Elasticsearch engine does with
// what its requests did not reach before the deadline.
type deadlineEngine struct {
	search.Engine
	notSent   map[int64]bool
	deadlines []time.Time
}

func (e *deadlineEngine) Write(ctx context.Context, ops []search.Op) ([]error, error) {
	d, _ := ctx.Deadline()
	e.deadlines = append(e.deadlines, d)
	out := make([]error, len(ops))
	for i, op := range ops {
		if e.notSent[op.ConversationID] {
			out[i] = fmt.Errorf("%w: %w", search.ErrNotSent, context.DeadlineExceeded)
		}
	}
	return out, nil
}

// A claim's writes stop within its lease, leaving time to record the
// outcome before another claim may take the jobs; what they did not send
// is due again at once, not counted as a failure nor backed off.
func TestIndexerWritesWithinTheLease(t *testing.T) {
	jobs := &fakeJobs{retried: map[int64]error{}, jobs: map[int64]*model.OutboxJob{
		1: {ID: 1, ConversationID: 10, Kind: model.OutboxTranscript},
		2: {ID: 2, ConversationID: 20, Kind: model.OutboxTranscript, Failures: 3},
	}}
	engine := &deadlineEngine{notSent: map[int64]bool{20: true}}
	const lease = 40 * time.Second
	ix, err := NewIndexer(engine, jobs, &fakeDocs{}, IndexerOptions{BatchSize: 10, PollInterval: 100 * time.Millisecond, Lease: lease, MaxBackoff: time.Hour, MaxLag: time.Minute}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := ix.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	if len(engine.deadlines) != 1 || engine.deadlines[0].Before(start.Add(lease*3/4)) || engine.deadlines[0].After(end.Add(lease*3/4)) {
		t.Fatalf("write deadlines %v; want one three quarters of the lease after the claim", engine.deadlines)
	}
	j := jobs.jobs[2]
	if jobs.jobs[1] != nil || j == nil || j.NextAttemptAt.After(time.Now()) || j.Failures != 0 || jobs.retried[2] != nil {
		t.Fatalf("jobs %v, retried %v; want 1 done and 2 due now, no failure", jobs.jobs, jobs.retried)
	}
}
