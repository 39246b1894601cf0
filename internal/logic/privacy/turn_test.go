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

// slowPurger takes d over each batch it deletes, as a large one does.
type slowPurger struct {
	privacy.Purger
	d time.Duration
}

func (p slowPurger) Purge(ctx context.Context, tenantID int64, ids []int64) ([]int64, error) {
	time.Sleep(p.d)
	return p.Purger.Purge(ctx, tenantID, ids)
}

// guestErasure queues an erasure of the outside speaker name over what the
// tenant has now.
func guestErasure(t *testing.T, repo *dao.Privacy, tenant int64, name string) model.Erasure {
	t.Helper()
	ctx := context.Background()
	upTo, total, err := repo.ErasureScope(ctx, tenant, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	e := model.Erasure{TenantID: tenant, SubjectKind: model.SubjectName, Subject: name, Status: model.ErasurePending,
		ConversationsTotal: total, ConversationsUpTo: &upTo}
	if err := repo.CreateErasure(ctx, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// A job that deletes for longer than its turn hands its worker back
// between two batches, due at once with what it deleted counted; the next
// claim serves another tenant's job requested meanwhile, which is done in
// its own turn, and the long job then goes on from where it stood, turn
// after turn, to its end, deleting each conversation once.
func TestALongErasureTakesTurns(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		const long = 12
		tenantA, otherA := guestCalls(t, db, "Guest Li", long)
		tenantB, _ := guestCalls(t, db, "Guest Wu", 1)
		startIndexer(t, db, tenantA)
		startIndexer(t, db, tenantB)
		repo, tx := dao.NewPrivacy(db), dao.NewTransactor(db)
		a := guestErasure(t, repo, tenantA, "Guest Li")
		time.Sleep(2 * time.Millisecond)
		b := guestErasure(t, repo, tenantB, "Guest Wu")

		// A batch of one conversation takes 40 ms; a turn lasts 150 ms.
		purger := slowPurger{Purger: conversation.NewDeleter(dao.NewConversations(db), tx), d: 40 * time.Millisecond}
		r := privacy.NewRunner(repo, purger, noRevoker{}, tx, privacy.RunnerOptions{Batch: 1, Lease: time.Minute, IndexPoll: 20 * time.Millisecond,
			Workers: 1, Turn: 150 * time.Millisecond}, zerolog.Nop())
		run := func() {
			t.Helper()
			if worked, err := r.RunOnce(ctx); !worked || err != nil {
				t.Fatalf("run: %v %v", worked, err)
			}
		}
		get := func(tenant, id int64) model.Erasure {
			t.Helper()
			e, err := repo.GetErasure(ctx, tenant, id)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}

		run() // A's, requested first
		first := get(tenantA, a.ID)
		if first.Status != model.ErasurePending || first.ConversationsDeleted < 1 || first.ConversationsDeleted >= long ||
			first.LeaseOwner != "" || first.LeaseUntil.After(time.Now()) || first.Subject == "" {
			t.Fatalf("A's job after its first turn: %+v; want pending, handed back due now with part of %d deleted", first, long)
		}
		run() // B's, waiting since before A's turn ended
		if e := get(tenantB, b.ID); e.Status != model.ErasureDone || e.ConversationsDeleted != 1 {
			t.Fatalf("B's job: %+v; want done in the turn after A's", e)
		}
		if e := get(tenantA, a.ID); e.ConversationsDeleted != first.ConversationsDeleted {
			t.Fatalf("A's job ran in B's turn: %+v", e)
		}
		turns, deleted := 1, first.ConversationsDeleted
		for get(tenantA, a.ID).Status == model.ErasurePending {
			if turns++; turns > long+1 {
				t.Fatalf("A's job not done after %d turns: %+v", turns, get(tenantA, a.ID))
			}
			run()
			e := get(tenantA, a.ID)
			if e.ConversationsDeleted < deleted {
				t.Fatalf("A's count went back: %+v after %d", e, deleted)
			}
			deleted = e.ConversationsDeleted
		}
		if e := get(tenantA, a.ID); e.Status != model.ErasureDone || e.ConversationsDeleted != long || turns < 3 {
			t.Fatalf("A's job: %+v after %d turns; want done, %d deleted, in 3 turns or more", e, turns, long)
		}
		var left []int64
		if err := db.Model(&model.Conversation{}).Where("tenant_id = ?", tenantA).Pluck("id", &left).Error; err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0] != otherA {
			t.Errorf("A's conversations left %v, want only %d", left, otherA)
		}
	})
}

// slowReads takes d over each batch of conversations a job reads for
// mentions, and records where each reading began.
type slowReads struct {
	readsFrom
	d time.Duration
}

func (r *slowReads) FindMentions(ctx context.Context, tenantID, after, upTo int64, limit int, since time.Time, spans func(string) [][2]int) ([]int64, int64, error) {
	time.Sleep(r.d)
	return r.readsFrom.FindMentions(ctx, tenantID, after, upTo, limit, since, spans)
}

// A job reading a large history for mentions hands its worker back
// between two batches of its first reading, which records where it
// stands; the next turn reads on from there, not from the start, keeps
// when the reading began, and redacts the mention past the first turn.
func TestAnErasureReadingForMentionsTakesTurns(t *testing.T) {
	c := pendingMention(t)
	ctx := context.Background()
	// 250 calls after the first one that writes the number, then another
	// that writes it: three batches.
	for i := range 250 {
		call(t, c.db, c.tenant, fmt.Sprint("plain-", i), "Someone Else")
	}
	late := call(t, c.db, c.tenant, "late", "Someone Else")
	if err := c.db.Model(&model.Conversation{}).Where("id = ?", late).Update("title", "call 13800138000 again").Error; err != nil {
		t.Fatal(err)
	}
	if err := c.db.Model(&model.Erasure{}).Where("id = ?", c.job.ID).Update("conversations_up_to", late).Error; err != nil {
		t.Fatal(err)
	}
	repo := &slowReads{readsFrom: readsFrom{Privacy: c.repo}, d: 100 * time.Millisecond}
	r := privacy.NewRunner(repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: time.Minute, IndexPoll: 20 * time.Millisecond,
		Workers: 1, Turn: 150 * time.Millisecond}, zerolog.Nop())
	if worked, err := r.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("run: %v %v", worked, err)
	}
	first, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID)
	if err != nil || first.Status != model.ErasurePending || first.MentionsAfter == 0 || first.MentionsAfter >= late ||
		first.MentionsSince == nil || first.LeaseOwner != "" {
		t.Fatalf("the job after its first turn: %+v %v; want pending, handed back, its reading part way", first, err)
	}
	reads := len(repo.reads)
	for turns := 1; ; turns++ {
		e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status == model.ErasureDone {
			break
		}
		if turns > 5 {
			t.Fatalf("not done after %d turns: %+v", turns, e)
		}
		if worked, err := r.RunOnce(ctx); !worked || err != nil {
			t.Fatalf("run: %v %v", worked, err)
		}
	}
	if next := repo.reads[reads]; next.after != first.MentionsAfter || !next.since.IsZero() {
		t.Errorf("the next turn read from %+v; want from %d, where the first stopped", next, first.MentionsAfter)
	}
	done, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID)
	if err != nil || done.ConversationsRedacted != 2 || done.DealsRedacted != 1 {
		t.Errorf("the job: %+v %v; want 2 conversations and 1 deal redacted", done, err)
	}
	for _, rd := range repo.reads {
		if !rd.since.IsZero() && !rd.since.Equal(*first.MentionsSince) {
			t.Errorf("a reading again since %s; want since %s, when the first began", rd.since, *first.MentionsSince)
		}
	}
	var title string
	if err := c.db.Model(&model.Conversation{}).Where("id = ?", late).Pluck("title", &title).Error; err != nil || title != "call [erased] again" {
		t.Errorf("title of the last call: %q %v", title, err)
	}
}
