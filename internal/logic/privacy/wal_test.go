package privacy_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/privacy"
	"github.com/megaview/mgvcore/internal/model"
)

type failingStore struct{ calls int }

func (f *failingStore) Truncate(context.Context) error {
	f.calls++
	return errors.New("readers hold the WAL")
}

// On the embedded SQLite store an erasure is done only once the erased
// person's name has left every file of the store, the WAL too; a job
// whose WAL cannot be truncated stays pending, without its subject, and
// ends when a later run truncates it.
func TestErasureDoneLeavesNothingInTheSQLiteFiles(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "mgv.db")
	db := daotest.Connect(t, "sqlite", file)
	const name = "Gäst Wålsh7731"
	tenant, _ := guestCalls(t, db, name, 3)
	repo, tx := dao.NewPrivacy(db), dao.NewTransactor(db)
	deleter := conversation.NewDeleter(dao.NewConversations(db), tx)
	startIndexer(t, db, tenant)
	upTo, total, err := repo.ErasureScope(ctx, tenant, []string{name})
	if err != nil || total != 3 {
		t.Fatalf("scope: %d %v", total, err)
	}
	job := model.Erasure{TenantID: tenant, SubjectKind: model.SubjectName, Subject: name, Status: model.ErasurePending,
		ConversationsTotal: total, ConversationsUpTo: &upTo}
	if err := repo.CreateErasure(ctx, &job); err != nil {
		t.Fatal(err)
	}
	if found := daotest.SQLiteHolding(t, file, name); len(found) == 0 {
		t.Fatal("no file of the store holds the name before the erasure: the check below would prove nothing")
	}

	// The WAL cannot be truncated: the job is not done.
	stuck := &failingStore{}
	r := privacy.NewRunner(repo, deleter, noRevoker{}, tx, privacy.RunnerOptions{Batch: 2, Lease: 200 * time.Millisecond, Store: stuck}, zerolog.Nop())
	if worked, err := r.RunOnce(ctx); !worked || err == nil || stuck.calls != 1 {
		t.Fatalf("a run whose WAL stays: worked %v, error %v, tries %d", worked, err, stuck.calls)
	}
	got, err := repo.GetErasure(ctx, tenant, job.ID)
	if err != nil || got.Status != model.ErasurePending || got.Subject != "" || got.ConversationsDeleted != 3 {
		t.Fatalf("job after a run whose WAL stays: %+v %v", got, err)
	}

	// A later run, once the lease has passed, only truncates and ends it.
	time.Sleep(300 * time.Millisecond)
	r = privacy.NewRunner(repo, deleter, noRevoker{}, tx, privacy.RunnerOptions{Batch: 2, Lease: time.Second, Store: dao.NewWAL(db, zerolog.Nop())}, zerolog.Nop())
	if worked, err := r.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("run: %v %v", worked, err)
	}
	got, err = repo.GetErasure(ctx, tenant, job.ID)
	if err != nil || got.Status != model.ErasureDone || got.ConversationsDeleted != 3 {
		t.Fatalf("job: %+v %v", got, err)
	}
	if found := daotest.SQLiteHolding(t, file, name); len(found) != 0 {
		t.Fatalf("the erasure is done and the store's files still hold the name: %v", found)
	}
}

// The transaction that ends a job (and appends person.erased) comes after
// the person is gone: an error in it, of any kind, leaves the job pending
// for a retry rather than failed.
func TestErasureEndingFailureIsRetriedNeverFailed(t *testing.T) {
	ctx := context.Background()
	db := daotest.Open(t)
	tenant, _ := guestCalls(t, db, "Guest Ende", 2)
	repo, tx := dao.NewPrivacy(db), dao.NewTransactor(db)
	deleter := conversation.NewDeleter(dao.NewConversations(db), tx)
	startIndexer(t, db, tenant)
	upTo, total, err := repo.ErasureScope(ctx, tenant, []string{"Guest Ende"})
	if err != nil || total != 2 {
		t.Fatalf("scope: %d %v", total, err)
	}
	job := model.Erasure{TenantID: tenant, SubjectKind: model.SubjectName, Subject: "Guest Ende", Status: model.ErasurePending,
		ConversationsTotal: total, ConversationsUpTo: &upTo}
	if err := repo.CreateErasure(ctx, &job); err != nil {
		t.Fatal(err)
	}
	fails := true
	hook := privacy.ErasedHookFunc(func(context.Context, model.Erasure) error {
		if fails {
			return errs.Of(errs.ReasonLastAdmin, "refused")
		}
		return nil
	})
	o := privacy.RunnerOptions{Lease: 200 * time.Millisecond, Store: dao.NewWAL(db, zerolog.Nop())}
	r := privacy.NewRunner(repo, deleter, noRevoker{}, tx, o, zerolog.Nop(), hook)
	if worked, err := r.RunOnce(ctx); !worked || err == nil {
		t.Fatalf("run: %v %v", worked, err)
	}
	if got, err := repo.GetErasure(ctx, tenant, job.ID); err != nil || got.Status != model.ErasurePending || got.Subject != "" {
		t.Fatalf("job after its ending failed: %+v %v", got, err)
	}
	fails = false
	time.Sleep(300 * time.Millisecond)
	if worked, err := r.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("retry: %v %v", worked, err)
	}
	if got, err := repo.GetErasure(ctx, tenant, job.ID); err != nil || got.Status != model.ErasureDone || got.ConversationsDeleted != 2 {
		t.Fatalf("job: %+v %v", got, err)
	}
}
