package dao_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// A lease that ran out is not renewed, even by its owner while nobody
// took it over: another instance may be claiming it at that moment. The
// renewal writes nothing (not the count it carries), and the job or run
// is due for anyone to claim, its owner included.
func TestALeaseThatRanOutIsNotRenewed(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		const lease = 50 * time.Millisecond
		tenant := model.Tenant{Name: "A"}
		if err := db.Create(&tenant).Error; err != nil {
			t.Fatal(err)
		}

		p := dao.NewPrivacy(db)
		upTo := int64(0)
		job := model.Erasure{TenantID: tenant.ID, SubjectKind: model.SubjectName, Subject: "Guest Li", Status: model.ErasurePending,
			ConversationsTotal: 5, ConversationsUpTo: &upTo}
		if err := p.CreateErasure(ctx, &job); err != nil {
			t.Fatal(err)
		}
		if e, err := p.ClaimErasure(ctx, "first", lease, 1); err != nil || e == nil || e.ID != job.ID {
			t.Fatalf("claim: %+v %v", e, err)
		}
		if ok, err := p.ErasureProgress(ctx, job.ID, "first", 1, lease); !ok || err != nil {
			t.Fatalf("a renewal within the lease: %v %v", ok, err)
		}
		time.Sleep(2 * lease)
		if ok, err := p.ErasureProgress(ctx, job.ID, "first", 1, lease); ok || err != nil {
			t.Fatalf("erasure progress after the lease ran out: renewed %v (%v), want refused", ok, err)
		}
		if ok, err := p.ErasureGrew(ctx, job.ID, "first", 9, false, lease); ok || err != nil {
			t.Fatalf("an erasure's new total after the lease ran out: renewed %v (%v), want refused", ok, err)
		}
		if e, err := p.GetErasure(ctx, tenant.ID, job.ID); err != nil || e.ConversationsDeleted != 1 || e.ConversationsTotal != 5 {
			t.Fatalf("the job after refused renewals: %+v %v, want 1 deleted of 5", e, err)
		}
		if e, err := p.ClaimErasure(ctx, "second", time.Minute, 1); err != nil || e == nil || e.ID != job.ID {
			t.Fatalf("another instance's claim of the job: %+v %v", e, err)
		}

		r := dao.NewRetention(db)
		if ok, err := r.ClaimRetention(ctx, tenant.ID, "first", time.Now(), lease); !ok || err != nil {
			t.Fatalf("claim the retention run: %v %v", ok, err)
		}
		if ok, err := r.RenewRetention(ctx, tenant.ID, "first", 1, lease); !ok || err != nil {
			t.Fatalf("a retention renewal within the lease: %v %v", ok, err)
		}
		time.Sleep(2 * lease)
		if ok, err := r.RenewRetention(ctx, tenant.ID, "first", 1, lease); ok || err != nil {
			t.Fatalf("a retention renewal after the lease ran out: renewed %v (%v), want refused", ok, err)
		}
		if ok, err := r.ClaimRetention(ctx, tenant.ID, "second", time.Now(), time.Minute); !ok || err != nil {
			t.Fatalf("another instance's claim of the retention run: %v %v", ok, err)
		}
	})
}

// claimLease is the short lease a stalled claim holds in these tests.
const claimLease = 50 * time.Millisecond

// emptyOutbox drops what an earlier case left, so each case claims only
// its own jobs.
func emptyOutbox(t *testing.T, db *gorm.DB) {
	t.Helper()
	if err := db.Exec("DELETE FROM outbox").Error; err != nil {
		t.Fatal(err)
	}
}

// outboxRow reads a job as stored (nil: gone).
func outboxRow(t *testing.T, db *gorm.DB, id int64) *model.OutboxJob {
	t.Helper()
	var rows []model.OutboxJob
	if err := db.Where("id = ?", id).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		return nil
	}
	return &rows[0]
}

// heldBy fails unless job is stored as claim left it: the claim's attempts,
// its lease still ahead by far, no error recorded.
func heldBy(t *testing.T, db *gorm.DB, id int64, claim int) {
	t.Helper()
	j := outboxRow(t, db, id)
	switch {
	case j == nil:
		t.Fatalf("job %d is gone: the stale claim deleted it under claim %d", id, claim)
	case j.Attempts != claim || !j.NextAttemptAt.After(time.Now().Add(30*time.Second)) || j.LastError != "":
		t.Fatalf("job %d: %d attempts, due %s, error %q; want claim %d's lease untouched",
			id, j.Attempts, j.NextAttemptAt, j.LastError, claim)
	}
}

// A search claim whose lease ran out while another claim took its jobs
// deletes, reschedules and releases none of them: they are the other
// claim's, which finishes them. A lease that ran out with no claim since
// still finishes, and a job gone already is not lost.
func TestAStaleSearchClaimLeavesTheJobsToTheClaimThatHoldsThem(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		outbox, search := dao.NewOutbox(db), dao.NewSearchOutbox(db)
		conv := int64(10)
		// claims queues two jobs, claims them under a lease that runs out,
		// then again: the stale claim's jobs and the holder's.
		claims := func(t *testing.T) (stale, holder []model.OutboxJob) {
			t.Helper()
			emptyOutbox(t, db)
			conv += 2
			if err := outbox.Enqueue(ctx,
				model.OutboxJob{TenantID: 1, Kind: model.OutboxTranscript, ConversationID: conv},
				model.OutboxJob{TenantID: 1, Kind: model.OutboxConversation, ConversationID: conv + 1}); err != nil {
				t.Fatal(err)
			}
			stale, err := search.Claim(ctx, 10, claimLease)
			if err != nil || len(stale) != 2 || stale[0].Attempts != 1 || stale[1].Attempts != 1 {
				t.Fatalf("first claim: %+v %v", stale, err)
			}
			time.Sleep(2 * claimLease)
			holder, err = search.Claim(ctx, 10, time.Minute)
			if err != nil || len(holder) != 2 || holder[0].Attempts != 2 || holder[1].Attempts != 2 {
				t.Fatalf("the claim after the lease ran out: %+v %v", holder, err)
			}
			return stale, holder
		}
		for _, tc := range []struct {
			name string
			want int // lost
			op   func(stale []model.OutboxJob) (int, error)
		}{
			{"done", 2, func(stale []model.OutboxJob) (int, error) { return search.Done(ctx, stale) }},
			{"retry", 1, func(stale []model.OutboxJob) (int, error) {
				lost, err := search.Retry(ctx, stale[0], time.Now().Add(-time.Second), errors.New("stale failure"))
				return count(lost), err
			}},
			{"release", 2, func(stale []model.OutboxJob) (int, error) { return search.Release(ctx, stale) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stale, holder := claims(t)
				lost, err := tc.op(stale)
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range holder {
					heldBy(t, db, j.ID, 2)
				}
				if lost != tc.want {
					t.Errorf("%d lost, want %d", lost, tc.want)
				}
				if again, err := search.Claim(ctx, 10, time.Minute); err != nil || len(again) != 0 {
					t.Errorf("a claim while the holder's lease runs: %+v %v", again, err)
				}
				// The holder finishes: retry, then done; done again of the
				// jobs gone loses none.
				if lost, err := search.Retry(ctx, holder[0], time.Now().Add(time.Hour), errors.New("engine down")); err != nil || lost {
					t.Fatalf("retry by the holder: lost %v, %v", lost, err)
				}
				if j := outboxRow(t, db, holder[0].ID); j == nil || j.LastError != "engine down" {
					t.Fatalf("the holder's retry: %+v", j)
				}
				for range 2 {
					if lost, err := search.Done(ctx, holder); err != nil || lost != 0 {
						t.Fatalf("done by the holder: %d lost, %v", lost, err)
					}
					if outboxRow(t, db, holder[0].ID) != nil || outboxRow(t, db, holder[1].ID) != nil {
						t.Fatal("the holder's done left its jobs")
					}
				}
			})
		}

		// Nobody claimed since the lease ran out: the claim finishes.
		emptyOutbox(t, db)
		if err := outbox.Enqueue(ctx, model.OutboxJob{TenantID: 1, Kind: model.OutboxTranscript, ConversationID: 1}); err != nil {
			t.Fatal(err)
		}
		late, err := search.Claim(ctx, 10, claimLease)
		if err != nil || len(late) != 1 {
			t.Fatalf("claim: %+v %v", late, err)
		}
		time.Sleep(2 * claimLease)
		if lost, err := search.Done(ctx, late); err != nil || lost != 0 || outboxRow(t, db, late[0].ID) != nil {
			t.Fatalf("done after the lease ran out, nobody claiming: %d lost, %v", lost, err)
		}
	})
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A tracker claim whose lease ran out while another claim took the job
// neither finishes it (the other claim may be mid-way through the
// tenant's conversations) nor reschedules or hands it back (which would
// move the other claim's lease); the claim that holds it does.
func TestAStaleTrackerClaimLeavesTheJobToTheClaimThatHoldsIt(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		outbox, jobs := dao.NewOutbox(db), dao.NewTrackerJobs(db)
		enqueue := func(t *testing.T) {
			t.Helper()
			if err := outbox.Enqueue(ctx, model.OutboxJob{TenantID: 1, Kind: model.OutboxTrackerApply, TrackerID: 9, Version: 1}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name string
			op   func(stale *model.OutboxJob) (bool, error)
		}{
			{"retry", func(stale *model.OutboxJob) (bool, error) {
				return jobs.RetryTrackerJob(ctx, stale, time.Now().Add(time.Second), errors.New("stale failure"))
			}},
			{"hand-back", func(stale *model.OutboxJob) (bool, error) { return jobs.RetryTrackerJob(ctx, stale, time.Now(), nil) }},
			{"finish", func(stale *model.OutboxJob) (bool, error) { return jobs.FinishTrackerJob(ctx, stale) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				emptyOutbox(t, db)
				enqueue(t)
				stale, err := jobs.ClaimTrackerJob(ctx, claimLease)
				if err != nil || stale == nil || stale.Attempts != 1 {
					t.Fatalf("first claim: %+v %v", stale, err)
				}
				time.Sleep(2 * claimLease)
				holder, err := jobs.ClaimTrackerJob(ctx, time.Minute)
				if err != nil || holder == nil || holder.ID != stale.ID || holder.Attempts != 2 {
					t.Fatalf("the claim after the lease ran out: %+v %v", holder, err)
				}
				lost, err := tc.op(stale)
				if err != nil {
					t.Fatal(err)
				}
				heldBy(t, db, holder.ID, 2)
				if !lost {
					t.Error("not reported lost")
				}
				if again, err := jobs.ClaimTrackerJob(ctx, time.Minute); err != nil || again != nil {
					t.Errorf("a claim while the holder's lease runs: %+v %v", again, err)
				}
				// The holder hands it back; the next claim finishes it, and
				// finishing it again (a superseded job is gone) loses nothing.
				if lost, err := jobs.RetryTrackerJob(ctx, holder, time.Now(), nil); err != nil || lost {
					t.Fatalf("hand-back by the holder: lost %v, %v", lost, err)
				}
				next, err := jobs.ClaimTrackerJob(ctx, time.Minute)
				if err != nil || next == nil || next.ID != holder.ID || next.Attempts != 3 {
					t.Fatalf("the claim after the hand-back: %+v %v", next, err)
				}
				for range 2 {
					if lost, err := jobs.FinishTrackerJob(ctx, next); err != nil || lost || outboxRow(t, db, next.ID) != nil {
						t.Fatalf("finish by the holder: lost %v, %v", lost, err)
					}
				}
			})
		}

		// Nobody claimed since the lease ran out: the claim finishes.
		emptyOutbox(t, db)
		enqueue(t)
		late, err := jobs.ClaimTrackerJob(ctx, claimLease)
		if err != nil || late == nil {
			t.Fatalf("claim: %+v %v", late, err)
		}
		time.Sleep(2 * claimLease)
		if lost, err := jobs.FinishTrackerJob(ctx, late); err != nil || lost || outboxRow(t, db, late.ID) != nil {
			t.Fatalf("finish after the lease ran out, nobody claiming: lost %v, %v", lost, err)
		}
	})
}

// A search job's error is kept cut to 1000 bytes on a character boundary:
// cut inside a character, the bytes are no UTF-8, which MySQL refuses, and
// the retry was lost with the job's error.
func TestASearchJobsLongErrorIsCutOnACharacter(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		outbox, search := dao.NewOutbox(db), dao.NewSearchOutbox(db)
		emptyOutbox(t, db)
		if err := outbox.Enqueue(ctx, model.OutboxJob{TenantID: 1, Kind: model.OutboxTranscript, ConversationID: 77}); err != nil {
			t.Fatal(err)
		}
		jobs, err := search.Claim(ctx, 10, time.Minute)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim: %+v %v", jobs, err)
		}
		long := strings.Repeat("x", 999) + strings.Repeat("索引失败", 10) // byte 1000 is inside 索
		if lost, err := search.Retry(ctx, jobs[0], time.Now().Add(time.Minute), errors.New(long)); err != nil || lost {
			t.Fatalf("retry with a long error: lost %v, %v", lost, err)
		}
		var kept string
		if err := db.Raw("SELECT last_error FROM outbox WHERE id = ?", jobs[0].ID).Scan(&kept).Error; err != nil {
			t.Fatal(err)
		}
		if kept != strings.Repeat("x", 999) {
			t.Fatalf("kept %d bytes (valid UTF-8: %v), want the 999 before the character", len(kept), utf8.ValidString(kept))
		}
	})
}
