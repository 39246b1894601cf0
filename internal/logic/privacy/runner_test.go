package privacy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/privacy"
	"github.com/megaview/mgvcore/internal/model"
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
	for i := range n + 1 {
		c := model.Conversation{TenantID: ten.ID, OriginConversationID: fmt.Sprint("c", i), OwnerUserID: 1, Channel: "call",
			Direction: "unknown", Status: "pending", BeginTime: now, CreatedAt: now, UpdatedAt: now}
		if err := db.Create(&c).Error; err != nil {
			t.Fatal(err)
		}
		speaker := name
		if i == n {
			speaker, other = "Someone Else", c.ID
		}
		p := model.Participant{TenantID: ten.ID, ConversationID: c.ID, SpeakerKey: "cust", Name: speaker, Affiliation: model.AffiliationExternal}
		if err := db.Create(&p).Error; err != nil {
			t.Fatal(err)
		}
	}
	return ten.ID, other
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
		job := model.Erasure{TenantID: tenant, SubjectKind: model.SubjectName, Subject: "Guest Li", Status: model.ErasurePending, ConversationsTotal: 5}
		if err := repo.CreateErasure(ctx, &job); err != nil {
			t.Fatal(err)
		}
		waiting := model.Erasure{TenantID: tenant, SubjectKind: model.SubjectName, Subject: "Someone Else", Status: model.ErasureAwaitingConfirmation}
		if err := repo.CreateErasure(ctx, &waiting); err != nil {
			t.Fatal(err)
		}

		// The instance that dies: a lease of 500 ms, two conversations.
		claimed, err := repo.ClaimErasure(ctx, "dead", 500*time.Millisecond)
		if err != nil || claimed == nil || claimed.ID != job.ID {
			t.Fatalf("claim: %+v %v", claimed, err)
		}
		ids, err := repo.ExternalConversations(ctx, tenant, "Guest Li", 2)
		if err != nil || len(ids) != 2 {
			t.Fatalf("batch: %v %v", ids, err)
		}
		n, err := deleter.Purge(ctx, tenant, ids)
		if err != nil || n != 2 {
			t.Fatalf("purge: %d %v", n, err)
		}
		if ok, err := repo.ErasureProgress(ctx, job.ID, "dead", n, 500*time.Millisecond); !ok || err != nil {
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
	repo, tx, deleter, tenant, job := pendingErasure(t, "Guest Wu", 3)
	if e, err := repo.ClaimErasure(ctx, "old", time.Hour); err != nil || e == nil {
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
	repo, tx, deleter, tenant, job := pendingErasure(t, "Guest Zhao", 2)
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
	repo, tx, deleter, tenant, job := pendingErasure(t, "Guest Sun", 0)
	r := privacy.NewRunner(repo, deleter, noRevoker{}, tx, privacy.RunnerOptions{Lease: time.Minute, Settle: time.Hour}, zerolog.Nop())
	if worked, err := r.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("run: %v %v", worked, err)
	}
	if e, err := repo.GetErasure(ctx, tenant, job.ID); err != nil || e.Status != model.ErasureDone {
		t.Fatalf("job: %+v %v", e, err)
	}
}

// pendingErasure writes a tenant where an outside speaker named name takes
// part in n calls, and a pending job erasing them.
func pendingErasure(t *testing.T, name string, n int) (*dao.Privacy, *dao.Transactor, *conversation.Deleter, int64, model.Erasure) {
	t.Helper()
	db := daotest.Open(t)
	tenant, _ := guestCalls(t, db, name, n)
	repo, tx := dao.NewPrivacy(db), dao.NewTransactor(db)
	deleter := conversation.NewDeleter(dao.NewConversations(db), tx)
	job := model.Erasure{TenantID: tenant, SubjectKind: model.SubjectName, Subject: name, Status: model.ErasurePending, ConversationsTotal: int64(n)}
	if err := repo.CreateErasure(context.Background(), &job); err != nil {
		t.Fatal(err)
	}
	return repo, tx, deleter, tenant, job
}
