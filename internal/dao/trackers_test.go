package dao_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/stats"
	"github.com/megaview/mgvcore/internal/logic/tracker"
	"github.com/megaview/mgvcore/internal/model"
)

// Trackers on the embedded SQLite dialect: CRUD with its outbox jobs, the
// transcript hook, batches of the re-application, statistics and comments.
// internal/e2e runs the same paths on MariaDB.

type trackerEnv struct {
	*org
	trackers *tracker.Trackers
	stats    *stats.Stats
	jobs     *dao.TrackerJobs
	ingest   *conversation.Ingest // with the tracker hook
}

func newTrackerEnv(t *testing.T) *trackerEnv {
	o := newOrg(t)
	repo := dao.NewTrackers(o.db)
	return &trackerEnv{
		org:      o,
		trackers: tracker.NewTrackers(repo, nil),
		stats:    stats.NewStats(dao.NewStats(o.db), repo),
		jobs:     dao.NewTrackerJobs(o.db),
		ingest:   conversation.NewIngest(dao.NewConversations(o.db), dao.NewDeals(o.db), dao.NewTransactor(o.db), tracker.NewHook(repo)),
	}
}

// say stores a transcript of one line per text, alternating rep and customer.
func (e *trackerEnv) say(t *testing.T, id int64, texts ...string) {
	t.Helper()
	var ss []conversation.SentenceInput
	for i, text := range texts {
		speaker := "rep"
		if i%2 == 1 {
			speaker = "cust"
		}
		ss = append(ss, conversation.SentenceInput{Seq: int64(i), SpeakerKey: speaker, StartMS: int64(i) * 5000, EndMS: int64(i)*5000 + 4000, Text: text})
	}
	if _, err := e.ingest.PutTranscript(e.app(), id, ss); err != nil {
		t.Fatalf("transcript of %d: %v", id, err)
	}
}

// hits counts the stored hits of a tracker, per conversation.
func (e *trackerEnv) hits(t *testing.T, trackerID int64) map[int64]int {
	t.Helper()
	var rows []model.TrackerHit
	if err := e.db.Where("tracker_id = ?", trackerID).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[int64]int{}
	for _, h := range rows {
		out[h.ConversationID]++
	}
	return out
}

func (e *trackerEnv) pendingJobs(t *testing.T, trackerID int64) []model.OutboxJob {
	t.Helper()
	var jobs []model.OutboxJob
	if err := e.db.Where("kind = ? AND tracker_id = ?", model.OutboxTrackerApply, trackerID).Order("id").Find(&jobs).Error; err != nil {
		t.Fatal(err)
	}
	return jobs
}

func matchOne(tr *model.Tracker, s []model.Sentence, p []model.Participant) []model.TrackerHit {
	return tracker.Match([]model.Tracker{*tr}, s, p)
}

// drain runs every due tracker job to its end, batch by batch.
func (e *trackerEnv) drain(t *testing.T, size int) (batches int) {
	t.Helper()
	ctx := context.Background()
	for {
		job, err := e.jobs.ClaimTrackerJob(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if job == nil {
			return batches
		}
		for {
			res, err := e.jobs.ApplyTrackerBatch(ctx, job, size, time.Minute, matchOne)
			if err != nil {
				t.Fatal(err)
			}
			batches++
			if res.TrackerGone {
				for {
					n, err := e.jobs.PurgeTrackerHits(ctx, job.TenantID, job.TrackerID, 2)
					if err != nil {
						t.Fatal(err)
					}
					if n < 2 {
						break
					}
				}
			}
			if res.Done || res.Superseded || res.TrackerGone {
				if lost, err := e.jobs.FinishTrackerJob(ctx, job); err != nil || lost {
					t.Fatalf("finish: lost %v, %v", lost, err)
				}
				break
			}
		}
	}
}

func TestTrackerApplicationSQLite(t *testing.T) {
	e := newTrackerEnv(t)
	admin := e.as(e.admin)
	begin := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	c1 := e.create(t, "c1", e.reps[0], begin, nil)
	c2 := e.create(t, "c2", e.reps[1], begin, nil)
	c3 := e.create(t, "c3", e.reps[2], begin, nil) // no transcript
	c4 := e.create(t, "c4", e.reps[3], begin, nil)
	e.say(t, c1, "our price is fair", "the PRICE is too high", "priceless")
	e.say(t, c2, "今年的预算有限", "预计下周签约")
	e.say(t, c4, "nothing to see")

	tr, err := e.trackers.Create(admin, tracker.Input{Name: "Pricing", Keywords: []string{"price", "预算"}})
	if err != nil {
		t.Fatal(err)
	}
	if jobs := e.pendingJobs(t, tr.ID); len(jobs) != 1 || jobs[0].Version != 1 {
		t.Fatalf("jobs after create: %+v", jobs)
	}
	if page, _ := e.trackers.List(admin, tracker.ListRequest{}); len(page.Trackers) != 1 || !page.Trackers[0].Applying {
		t.Fatalf("list while applying: %+v", page)
	}
	// Batches of two: (c1, c2), (c3, c4), then done.
	if n := e.drain(t, 2); n != 3 {
		t.Errorf("batches: %d", n)
	}
	if got := e.hits(t, tr.ID); got[c1] != 2 || got[c2] != 1 || len(got) != 2 {
		t.Errorf("hits after apply: %v", got)
	}
	if jobs := e.pendingJobs(t, tr.ID); len(jobs) != 0 {
		t.Errorf("jobs left: %+v", jobs)
	}
	if page, _ := e.trackers.List(admin, tracker.ListRequest{}); page.Trackers[0].Applying {
		t.Errorf("still applying: %+v", page)
	}

	// A transcript written now is matched by the hook, in its transaction.
	e.say(t, c3, "any discount on the price?", "price, price")
	if got := e.hits(t, tr.ID); got[c3] != 2 {
		t.Errorf("hook hits on c3: %v", got)
	}

	// An update supersedes the job of the older version, even a claimed one.
	if _, err := e.trackers.Update(admin, tr.ID, tracker.Input{Name: "Pricing", Keywords: []string{"price", "cost"}}); err != nil {
		t.Fatal(err)
	}
	old, err := e.jobs.ClaimTrackerJob(context.Background(), time.Minute)
	if err != nil || old == nil || old.Version != 2 {
		t.Fatalf("claim v2: %+v %v", old, err)
	}
	if _, err := e.trackers.Update(admin, tr.ID, tracker.Input{Name: "Pricing", Keywords: []string{"discount"}, Affiliation: "internal"}); err != nil {
		t.Fatal(err)
	}
	res, err := e.jobs.ApplyTrackerBatch(context.Background(), old, 10, time.Minute, matchOne)
	if err != nil || !res.Superseded {
		t.Fatalf("old job: %+v %v", res, err)
	}
	if jobs := e.pendingJobs(t, tr.ID); len(jobs) != 1 || jobs[0].Version != 3 {
		t.Fatalf("jobs after second update: %+v", jobs)
	}
	e.drain(t, 10)
	// "discount" is said by the rep in c3 (internal) only.
	if got := e.hits(t, tr.ID); got[c3] != 1 || len(got) != 1 {
		t.Errorf("hits after update: %v", got)
	}
	// A rename queues nothing.
	if _, err := e.trackers.Update(admin, tr.ID, tracker.Input{Name: "Discounts", Keywords: []string{"discount"}, Affiliation: "internal"}); err != nil {
		t.Fatal(err)
	}
	if jobs := e.pendingJobs(t, tr.ID); len(jobs) != 0 {
		t.Errorf("rename queued %+v", jobs)
	}

	// Delete: gone for readers at once, hits purged by the job.
	if err := e.trackers.Delete(admin, tr.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.stats.TrackerStats(admin, stats.TrackerStatsRequest{TrackerID: tr.ID, GroupBy: "owner", From: begin, To: begin.Add(time.Hour)}); reason(err) != errs.ReasonTrackerNotFound {
		t.Errorf("stats of a deleted tracker: %v", err)
	}
	e.drain(t, 10)
	if got := e.hits(t, tr.ID); len(got) != 0 {
		t.Errorf("hits after delete: %v", got)
	}
}

func TestTrackerJobClaimAndRetrySQLite(t *testing.T) {
	e := newTrackerEnv(t)
	ctx := context.Background()
	tr, err := e.trackers.Create(e.as(e.admin), tracker.Input{Name: "p", Keywords: []string{"price"}})
	if err != nil {
		t.Fatal(err)
	}
	job, err := e.jobs.ClaimTrackerJob(ctx, time.Minute)
	if err != nil || job == nil || job.TrackerID != tr.ID || job.Attempts != 1 {
		t.Fatalf("claim: %+v %v", job, err)
	}
	// Leased: nobody else gets it.
	if again, err := e.jobs.ClaimTrackerJob(ctx, time.Minute); err != nil || again != nil {
		t.Fatalf("second claim: %+v %v", again, err)
	}
	if lost, err := e.jobs.RetryTrackerJob(ctx, job, time.Now().Add(time.Hour), context.DeadlineExceeded); err != nil || lost {
		t.Fatalf("retry: lost %v, %v", lost, err)
	}
	if again, _ := e.jobs.ClaimTrackerJob(ctx, time.Minute); again != nil {
		t.Fatalf("claimed before its retry time: %+v", again)
	}
	if jobs := e.pendingJobs(t, tr.ID); len(jobs) != 1 || jobs[0].LastError == "" {
		t.Fatalf("failure not recorded: %+v", jobs)
	}
	if lost, err := e.jobs.RetryTrackerJob(ctx, job, time.Now().Add(-time.Second), nil); err != nil || lost {
		t.Fatalf("hand back: lost %v, %v", lost, err)
	}
	if again, _ := e.jobs.ClaimTrackerJob(ctx, time.Minute); again == nil || again.Attempts != 2 {
		t.Fatalf("claim after hand-back: %+v", again)
	}
}

func TestTrackerApplierSQLite(t *testing.T) {
	e := newTrackerEnv(t)
	c := e.create(t, "c", e.reps[0], time.Now().UTC(), nil)
	e.say(t, c, "what about the budget", "the budget is tight")
	applier := tracker.NewApplier(e.jobs, zerolog.Nop(), tracker.ApplierOptions{Poll: 20 * time.Millisecond})
	applier.Start(t.Context())
	defer applier.Stop()
	tr, err := tracker.NewTrackers(dao.NewTrackers(e.db), applier.Notify).Create(e.as(e.admin), tracker.Input{Name: "b", Keywords: []string{"budget"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.hits(t, tr.ID)[c] != 2 || len(e.pendingJobs(t, tr.ID)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("hits %v, jobs %+v", e.hits(t, tr.ID), e.pendingJobs(t, tr.ID))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countingTrackers counts the reads of a tenant's trackers.
type countingTrackers struct {
	*dao.Trackers
	reads int
}

func (c *countingTrackers) ListTrackers(ctx context.Context, tenantID int64) ([]model.Tracker, error) {
	c.reads++
	return c.Trackers.ListTrackers(ctx, tenantID)
}

// A transcript write matches with the trackers as its transaction sees
// them; the hook reads them again only when they changed.
func TestTranscriptHitsFollowTrackerChanges(t *testing.T) {
	e := newTrackerEnv(t)
	repo := &countingTrackers{Trackers: dao.NewTrackers(e.db)}
	e.ingest = conversation.NewIngest(dao.NewConversations(e.db), dao.NewDeals(e.db), dao.NewTransactor(e.db), tracker.NewHook(repo))
	trackers := dao.NewTrackers(e.db)
	tr := &model.Tracker{TenantID: e.tenant, Name: "price", Keywords: `["价格"]`, Affiliation: model.AffiliationAnyone}
	if err := trackers.CreateTracker(t.Context(), tr, 0); err != nil {
		t.Fatal(err)
	}
	say := func(origin string) int64 {
		id := e.create(t, origin, e.reps[0], time.Now().UTC(), nil)
		e.say(t, id, "这个价格可以吗", "报价单呢")
		return id
	}
	a, b := say("a"), say("b")
	if got := e.hits(t, tr.ID); got[a] != 1 || got[b] != 1 || repo.reads != 1 {
		t.Fatalf("hits %v after %d reads of the trackers, want one each after one read", got, repo.reads)
	}
	tr.Keywords = `["报价"]`
	if _, err := trackers.UpdateTracker(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	c := say("c")
	var phrases []string
	if err := e.db.Model(&model.TrackerHit{}).Where("conversation_id = ?", c).Pluck("phrase", &phrases).Error; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(phrases, []string{"报价"}) || repo.reads != 2 {
		t.Fatalf("after the change: phrases %v after %d reads", phrases, repo.reads)
	}
	if err := trackers.DeleteTracker(t.Context(), e.tenant, tr.ID); err != nil {
		t.Fatal(err)
	}
	if d := say("d"); e.hits(t, tr.ID)[d] != 0 {
		t.Fatal("a deleted tracker hit a new transcript")
	}
	if repo.reads != 3 {
		t.Errorf("%d reads of the trackers for four writes and two changes, want 3", repo.reads)
	}
}

// A tracker batch under a lease that ran out, or under a claim another
// claim replaced, writes nothing and says LeaseLost; the job is due for
// the next claim, which applies it.
func TestATrackerBatchNeedsItsLease(t *testing.T) {
	e := newTrackerEnv(t)
	ctx := context.Background()
	c1 := e.create(t, "c1", e.reps[0], time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), nil)
	e.say(t, c1, "our price is fair")
	tr, err := e.trackers.Create(e.as(e.admin), tracker.Input{Name: "Pricing", Keywords: []string{"price"}})
	if err != nil {
		t.Fatal(err)
	}
	const lease = 50 * time.Millisecond
	first, err := e.jobs.ClaimTrackerJob(ctx, lease)
	if err != nil || first == nil {
		t.Fatalf("claim: %+v %v", first, err)
	}
	time.Sleep(2 * lease)
	res, err := e.jobs.ApplyTrackerBatch(ctx, first, 10, lease, matchOne)
	if err != nil || !res.LeaseLost || res.Conversations != 0 {
		t.Fatalf("a batch after the lease ran out: %+v %v, want LeaseLost", res, err)
	}
	if got := e.hits(t, tr.ID); len(got) != 0 {
		t.Fatalf("hits written under a lease that ran out: %v", got)
	}
	second, err := e.jobs.ClaimTrackerJob(ctx, time.Minute)
	if err != nil || second == nil || second.ID != first.ID {
		t.Fatalf("the next claim: %+v %v, want job %d", second, err, first.ID)
	}
	if res, err := e.jobs.ApplyTrackerBatch(ctx, first, 10, time.Minute, matchOne); err != nil || !res.LeaseLost {
		t.Fatalf("a batch of the replaced claim: %+v %v, want LeaseLost", res, err)
	}
	if res, err := e.jobs.ApplyTrackerBatch(ctx, second, 10, time.Minute, matchOne); err != nil || res.LeaseLost || res.Conversations != 1 {
		t.Fatalf("a batch of the claim that holds the job: %+v %v", res, err)
	}
	if got := e.hits(t, tr.ID); got[c1] != 1 {
		t.Fatalf("hits after the batch of the claim that holds the job: %v", got)
	}
}
