package privacy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/privacy"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/polltest"
)

type noRevoker struct{}

func (noRevoker) Revoke(context.Context, string, int64, int64, string) error { return nil }

// guestCalls writes a tenant with n calls in which an outside speaker
// named name takes part, and one call without them.
func guestCalls(t *testing.T, db *gorm.DB, name string, n int) (tenant int64, other int64) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	ten := model.Tenant{Name: "T", Timezone: "UTC", RateTier: "standard", CreatedAt: now, UpdatedAt: now}
	if err := db.Create(&ten).Error; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		call(t, db, ten.ID, fmt.Sprint("c", i), name)
	}
	return ten.ID, call(t, db, ten.ID, fmt.Sprint("c", n), "Someone Else")
}

// call writes a conversation of the tenant with the origin id in which an
// outside speaker named name takes part, and returns its id.
func call(t *testing.T, db *gorm.DB, tenant int64, origin, name string) int64 {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := model.Conversation{TenantID: tenant, OriginConversationID: origin, OwnerUserID: 1, Channel: "call",
		Direction: "unknown", Status: "pending", BeginTime: now, CreatedAt: now, UpdatedAt: now}
	if err := db.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	speaks(t, db, tenant, c.ID, "cust", name)
	return c.ID
}

// speaks adds an outside speaker named name to a conversation, under the
// speaker key.
func speaks(t *testing.T, db *gorm.DB, tenant, conversation int64, key, name string) {
	t.Helper()
	p := model.Participant{TenantID: tenant, ConversationID: conversation, SpeakerKey: key, Name: name, Affiliation: model.AffiliationExternal}
	if err := db.Create(&p).Error; err != nil {
		t.Fatal(err)
	}
}

// TestErasureResumesAfterItsHolderDies: an instance claims a job, deletes
// part of it and dies; another takes the job over only once the lease has
// run out, and finishes it.
func TestErasureResumesAfterItsHolderDies(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		tenant, other := guestCalls(t, db, "Guest Li", 5)
		repo, tx := dao.NewPrivacy(db), dao.NewTransactor(db)
		deleter := conversation.NewDeleter(dao.NewConversations(db), tx)
		startIndexer(t, db, tenant)
		upTo, total, err := repo.ErasureScope(ctx, tenant, []string{"Guest Li"})
		if err != nil || total != 5 {
			t.Fatalf("scope: %d %v", total, err)
		}
		job := model.Erasure{TenantID: tenant, SubjectKind: model.SubjectName, Subject: "Guest Li", Status: model.ErasurePending,
			ConversationsTotal: total, ConversationsUpTo: &upTo}
		if err := repo.CreateErasure(ctx, &job); err != nil {
			t.Fatal(err)
		}
		waiting := model.Erasure{TenantID: tenant, SubjectKind: model.SubjectName, Subject: "Someone Else", Status: model.ErasureAwaitingConfirmation}
		if err := repo.CreateErasure(ctx, &waiting); err != nil {
			t.Fatal(err)
		}

		// The instance that dies: a lease of 500 ms, two conversations.
		claimed, err := repo.ClaimErasure(ctx, "dead", 500*time.Millisecond, 1)
		if err != nil || claimed == nil || claimed.ID != job.ID {
			t.Fatalf("claim: %+v %v", claimed, err)
		}
		ids, err := repo.ExternalConversations(ctx, tenant, []string{"Guest Li"}, upTo, 2)
		if err != nil || len(ids) != 2 {
			t.Fatalf("batch: %v %v", ids, err)
		}
		gone, err := deleter.Purge(ctx, tenant, ids)
		if err != nil || len(gone) != 2 {
			t.Fatalf("purge: %v %v", gone, err)
		}
		if ok, err := repo.ErasureProgress(ctx, job.ID, "dead", len(gone), 500*time.Millisecond); !ok || err != nil {
			t.Fatalf("progress: %v %v", ok, err)
		}

		r := privacy.NewRunner(repo, deleter, noRevoker{}, tx, privacy.RunnerOptions{Batch: 1, Lease: time.Second}, zerolog.Nop())
		if worked, err := r.RunOnce(ctx); worked || err != nil {
			t.Fatalf("took a job under another's lease, or one awaiting confirmation: %v %v", worked, err)
		}
		time.Sleep(600 * time.Millisecond)
		if worked, err := r.RunOnce(ctx); !worked || err != nil {
			t.Fatalf("did not take the job over: %v %v", worked, err)
		}
		done, err := repo.GetErasure(ctx, tenant, job.ID)
		if err != nil || done.Status != model.ErasureDone || done.ConversationsDeleted != 5 || done.Subject != "" || done.FinishedAt == nil {
			t.Fatalf("job: %+v %v", done, err)
		}
		if ok, _ := repo.ErasureProgress(ctx, job.ID, "dead", 1, time.Second); ok {
			t.Error("the dead instance still holds the job")
		}
		var left []int64
		if err := db.Model(&model.Conversation{}).Where("tenant_id = ?", tenant).Pluck("id", &left).Error; err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0] != other {
			t.Errorf("conversations left %v, want only %d", left, other)
		}
		if w, _ := repo.GetErasure(ctx, tenant, waiting.ID); w.Status != model.ErasureAwaitingConfirmation {
			t.Errorf("a job awaiting confirmation ran: %+v", w)
		}
	})
}

// TestReleasedJobIsTakenAtOnce: the claim a stopping runner releases (a
// clean stop, the old process of an upgrade: Runner.Stop) lets another
// take the job at once rather than after the lease.
func TestReleasedJobIsTakenAtOnce(t *testing.T) {
	ctx := context.Background()
	c := pendingErasure(t, "Guest Wu", 3)
	repo, tx, deleter, tenant, job := c.repo, c.tx, c.deleter, c.tenant, c.job
	if e, err := repo.ClaimErasure(ctx, "old", time.Hour, 1); err != nil || e == nil {
		t.Fatalf("claim: %v %v", e, err)
	}
	next := privacy.NewRunner(repo, deleter, noRevoker{}, tx, privacy.RunnerOptions{Lease: time.Hour}, zerolog.Nop())
	if worked, err := next.RunOnce(ctx); worked || err != nil {
		t.Fatalf("took a claimed job: %v %v", worked, err)
	}
	if err := repo.ReleaseErasures(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if worked, err := next.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("did not take the released job: %v %v", worked, err)
	}
	if e, err := repo.GetErasure(ctx, tenant, job.ID); err != nil || e.Status != model.ErasureDone || e.ConversationsDeleted != 3 {
		t.Fatalf("job: %+v %v", e, err)
	}
}

// TestErasureReportsDoneOnlyAfterTheCopiesExpire: a job that deleted
// conversations waits Settle (the longest another instance may keep the
// words in memory) before it is done, and holds its lease meanwhile, even
// when Settle is longer than the lease: no other instance takes it over.
func TestErasureReportsDoneOnlyAfterTheCopiesExpire(t *testing.T) {
	ctx := context.Background()
	c := pendingErasure(t, "Guest Zhao", 2)
	repo, tx, deleter, tenant, job := c.repo, c.tx, c.deleter, c.tenant, c.job
	settle, lease := 1500*time.Millisecond, 600*time.Millisecond
	r := privacy.NewRunner(repo, deleter, noRevoker{}, tx, privacy.RunnerOptions{Lease: lease, Settle: settle}, zerolog.Nop())
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := r.RunOnce(ctx)
		errc <- err
	}()
	// Past the first lease, the job is pending, its conversations gone,
	// and still held.
	time.Sleep(lease + 300*time.Millisecond)
	if e, err := repo.GetErasure(ctx, tenant, job.ID); err != nil || e.Status != model.ErasurePending || e.ConversationsDeleted != 2 {
		t.Fatalf("while settling: %+v %v", e, err)
	}
	other := privacy.NewRunner(repo, deleter, noRevoker{}, tx, privacy.RunnerOptions{Lease: lease}, zerolog.Nop())
	if worked, err := other.RunOnce(ctx); worked || err != nil {
		t.Fatalf("another instance took the settling job: %v %v", worked, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	e, err := repo.GetErasure(ctx, tenant, job.ID)
	if err != nil || e.Status != model.ErasureDone || e.FinishedAt == nil {
		t.Fatalf("job: %+v %v", e, err)
	}
	if took < settle {
		t.Errorf("done %s after it started, before Settle %s had passed", took, settle)
	}
	t.Logf("erasure with Settle %s done in %s", settle, took)
}

// TestErasureWithNothingDeletedDoesNotWait: an internal user's erasure
// deletes no conversation, so it has nothing to wait for.
func TestErasureWithNothingDeletedDoesNotWait(t *testing.T) {
	ctx := context.Background()
	c := pendingErasure(t, "Guest Sun", 0)
	repo, tx, deleter, tenant, job := c.repo, c.tx, c.deleter, c.tenant, c.job
	r := privacy.NewRunner(repo, deleter, noRevoker{}, tx, privacy.RunnerOptions{Lease: time.Minute, Settle: time.Hour}, zerolog.Nop())
	if worked, err := r.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("run: %v %v", worked, err)
	}
	if e, err := repo.GetErasure(ctx, tenant, job.ID); err != nil || e.Status != model.ErasureDone {
		t.Fatalf("job: %+v %v", e, err)
	}
}

// erasureCase is a tenant, its pending erasure job, and the search
// indexer's stand-in, running.
type erasureCase struct {
	db      *gorm.DB
	repo    *dao.Privacy
	tx      *dao.Transactor
	deleter *conversation.Deleter
	tenant  int64
	job     model.Erasure
	index   *indexer
}

// pendingErasure writes a tenant where an outside speaker named name takes
// part in n calls, and a pending job erasing them.
func pendingErasure(t *testing.T, name string, n int) erasureCase {
	t.Helper()
	db := daotest.Open(t)
	tenant, _ := guestCalls(t, db, name, n)
	c := erasureCase{db: db, repo: dao.NewPrivacy(db), tx: dao.NewTransactor(db), tenant: tenant}
	c.deleter = conversation.NewDeleter(dao.NewConversations(db), c.tx)
	c.index = startIndexer(t, db, tenant)
	upTo, total, err := c.repo.ErasureScope(context.Background(), tenant, []string{name})
	if err != nil || total != int64(n) {
		t.Fatalf("scope: %d %v", total, err)
	}
	c.job = model.Erasure{TenantID: tenant, SubjectKind: model.SubjectName, Subject: name, Status: model.ErasurePending,
		ConversationsTotal: total, ConversationsUpTo: &upTo}
	if err := c.repo.CreateErasure(context.Background(), &c.job); err != nil {
		t.Fatal(err)
	}
	return c
}

// indexer stands for the search indexer of a tenant: while up, it takes
// the tenant's search jobs off the outbox, as one that wrote them to the
// engine does; while down (the engine fails), it leaves them.
type indexer struct {
	// mu is held over each pass of the stand-in, so that once halt
	// returns, no removal read while the indexer was up is still to come.
	mu   sync.Mutex
	down atomic.Bool
}

// halt takes the indexer down: the jobs queued from now on stay.
func (ix *indexer) halt() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.down.Store(true)
}

func startIndexer(t *testing.T, db *gorm.DB, tenant int64) *indexer {
	t.Helper()
	ix := &indexer{}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ix.mu.Lock()
			if !ix.down.Load() {
				// A failed delete is tried again at the next tick, as
				// the indexer retries.
				_ = db.Exec("DELETE FROM outbox WHERE tenant_id = ? AND kind IN ?", tenant,
					[]string{model.OutboxTranscript, model.OutboxConversation}).Error
			}
			ix.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-stopped
	})
	return ix
}

// catchUp brings the indexer up and waits for the job run on errc to end
// without error.
func (ix *indexer) catchUp(t *testing.T, errc <-chan error) {
	t.Helper()
	ix.down.Store(false)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the job is not done 5 s after the index caught up")
	}
}

// refresher stands for the search engine's refresh: it fails the first
// fail calls, and notes a call made while a removal of the tenant was
// still in the outbox (one the refresh could not have made searchable).
type refresher struct {
	db     *gorm.DB
	tenant int64
	fail   atomic.Int32
	calls  atomic.Int32
	early  atomic.Bool
}

func (r *refresher) Refresh(ctx context.Context) error {
	r.calls.Add(1)
	var n int64
	if err := r.db.WithContext(ctx).Model(&model.OutboxJob{}).Where("tenant_id = ?", r.tenant).Count(&n).Error; err != nil || n > 0 {
		r.early.Store(true)
	}
	if r.fail.Add(-1) >= 0 {
		return errors.New("elasticsearch: no available connection")
	}
	return nil
}

// waitDeleted waits until the job counts deleted conversations: it waits
// for the index from then on.
func waitDeleted(t *testing.T, c erasureCase, deleted int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e, err := c.repo.GetErasure(context.Background(), c.tenant, c.job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.ConversationsDeleted == deleted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job deleted %d of %d conversations", e.ConversationsDeleted, deleted)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestErasureIsDoneOnlyOnceTheIndexRemovedItsConversations: while the
// search engine fails, the removals of the deleted conversations stay in
// the outbox, and the job stays pending, held, past Settle and past its
// lease; a removal of another tenant does not hold it. Once the indexer
// has removed them and a refresh succeeded after that, the job is done.
func TestErasureIsDoneOnlyOnceTheIndexRemovedItsConversations(t *testing.T) {
	ctx := context.Background()
	c := pendingErasure(t, "Guest Qian", 3)
	c.index.halt()
	// Another tenant's conversation, deleted, whose removal never
	// happens here.
	if err := c.db.Create(&model.OutboxJob{TenantID: c.tenant + 1, Kind: model.OutboxConversation, ConversationID: 999999,
		NextAttemptAt: time.Now(), CreatedAt: time.Now()}).Error; err != nil {
		t.Fatal(err)
	}
	refresh := &refresher{db: c.db, tenant: c.tenant}
	refresh.fail.Store(2)
	lease := 600 * time.Millisecond
	r := privacy.NewRunner(c.repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: lease, Settle: 100 * time.Millisecond,
		Refresher: refresh, IndexPoll: 20 * time.Millisecond}, zerolog.Nop())
	errc := make(chan error, 1)
	go func() {
		_, err := r.RunOnce(ctx)
		errc <- err
	}()
	waitDeleted(t, c, 3)
	time.Sleep(lease + 300*time.Millisecond)
	if e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID); err != nil || e.Status != model.ErasurePending || e.FinishedAt != nil {
		t.Fatalf("done while the index still holds the conversations: %+v %v", e, err)
	}
	other := privacy.NewRunner(c.repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: lease}, zerolog.Nop())
	if worked, err := other.RunOnce(ctx); worked || err != nil {
		t.Fatalf("another instance took the waiting job: %v %v", worked, err)
	}
	if n := refresh.calls.Load(); n != 0 {
		t.Fatalf("refreshed %d times before the removals were done", n)
	}

	c.index.catchUp(t, errc)
	e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID)
	if err != nil || e.Status != model.ErasureDone || e.ConversationsDeleted != 3 || e.FinishedAt == nil {
		t.Fatalf("job: %+v %v", e, err)
	}
	if n := refresh.calls.Load(); n != 3 || refresh.early.Load() {
		t.Errorf("refreshed %d times (want 2 failures, then 1), early %v", n, refresh.early.Load())
	}
}

// TestErasureWaitingForTheIndexStopsWhenItsLeaseIsLost: a job whose
// lease passed to another instance while it waits for the index ends
// there, without finishing the job.
func TestErasureWaitingForTheIndexStopsWhenItsLeaseIsLost(t *testing.T) {
	ctx := context.Background()
	c := pendingErasure(t, "Guest Sun", 2)
	c.index.halt()
	r := privacy.NewRunner(c.repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: 300 * time.Millisecond,
		IndexPoll: 20 * time.Millisecond}, zerolog.Nop())
	errc := make(chan error, 1)
	go func() {
		_, err := r.RunOnce(ctx)
		errc <- err
	}()
	waitDeleted(t, c, 2)
	if err := c.db.Exec("UPDATE privacy_erasures SET lease_owner = 'another' WHERE id = ?", c.job.ID).Error; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("the job ended without error after its lease was lost")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("still waiting for the index 3 s after the lease was lost")
	}
	if e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID); err != nil || e.Status != model.ErasurePending || e.LeaseOwner != "another" {
		t.Fatalf("job: %+v %v", e, err)
	}
}

// TestErasureWaitingForTheIndexStopsWithItsContext: a runner stopping
// while its job waits for the index ends the wait at once; the job stays
// pending, to be resumed.
func TestErasureWaitingForTheIndexStopsWithItsContext(t *testing.T) {
	c := pendingErasure(t, "Guest Zhou", 2)
	c.index.halt()
	r := privacy.NewRunner(c.repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: time.Minute,
		IndexPoll: 20 * time.Millisecond}, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := r.RunOnce(ctx)
		errc <- err
	}()
	waitDeleted(t, c, 2)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("RunOnce: %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatal("still waiting for the index 1 s after the context ended")
	}
	if e, err := c.repo.GetErasure(context.Background(), c.tenant, c.job.ID); err != nil || e.Status != model.ErasurePending {
		t.Fatalf("job: %+v %v", e, err)
	}
}

// TestAJobWaitingForTheIndexHoldsOnlyItsWorker: while one job waits for
// the search engine, which takes as long as the engine is down, another
// worker of the runner takes the next job to its end (the tenant's: four
// workers leave a tenant two at once).
func TestAJobWaitingForTheIndexHoldsOnlyItsWorker(t *testing.T) {
	ctx := context.Background()
	c := pendingErasure(t, "Guest Wu", 2)
	c.index.halt()
	r := privacy.NewRunner(c.repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{
		Workers: 4, Lease: time.Minute, Poll: 20 * time.Millisecond, IndexPoll: 20 * time.Millisecond,
	}, zerolog.Nop())
	r.Start()
	t.Cleanup(r.Stop)
	waitDeleted(t, c, 2)

	upTo, total, err := c.repo.ErasureScope(ctx, c.tenant, []string{"Nobody Here"})
	if err != nil || total != 0 {
		t.Fatalf("scope: %d %v", total, err)
	}
	next := model.Erasure{TenantID: c.tenant, SubjectKind: model.SubjectName, Subject: "Nobody Here", Status: model.ErasurePending,
		ConversationsUpTo: &upTo}
	if err := c.repo.CreateErasure(ctx, &next); err != nil {
		t.Fatal(err)
	}
	r.Notify()
	polltest.Until(t, 5*time.Second, 10*time.Millisecond, "the next job done while the first waits for the index", func() bool {
		e, err := c.repo.GetErasure(ctx, c.tenant, next.ID)
		return err == nil && e.Status == model.ErasureDone
	})
	if e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID); err != nil || e.Status != model.ErasurePending {
		t.Fatalf("the first job, its removals not indexed: %+v %v", e, err)
	}
	c.index.down.Store(false)
	polltest.Until(t, 5*time.Second, 10*time.Millisecond, "the first job done once the index removed its conversations", func() bool {
		e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID)
		return err == nil && e.Status == model.ErasureDone
	})
}

// TestErasureGoesOnWhenTheIndexRefusesToRefresh: an engine that refuses
// every refresh (a role without the privilege) makes the removals
// searchable on its own refresh; the job is done two such intervals
// after the removals, not never.
func TestErasureGoesOnWhenTheIndexRefusesToRefresh(t *testing.T) {
	ctx := context.Background()
	c := pendingErasure(t, "Guest Zhou", 2)
	refresh := &refresher{db: c.db, tenant: c.tenant}
	refresh.fail.Store(1 << 30)
	every := 100 * time.Millisecond
	r := privacy.NewRunner(c.repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: time.Minute,
		Refresher: refresh, RefreshEvery: every, IndexPoll: 20 * time.Millisecond}, zerolog.Nop())
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if worked, err := r.RunOnce(runCtx); !worked || err != nil {
		t.Fatalf("run: %v %v (after %s)", worked, err, time.Since(start))
	}
	took := time.Since(start)
	e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID)
	if err != nil || e.Status != model.ErasureDone || e.ConversationsDeleted != 2 {
		t.Fatalf("job: %+v %v", e, err)
	}
	if took < 2*every || refresh.calls.Load() < 2 || refresh.early.Load() {
		t.Errorf("done after %s and %d refreshes (early %v), want at least two refresh intervals of trying", took, refresh.calls.Load(), refresh.early.Load())
	}
}
